package main

import (
	"context"

	"github.com/ethereum/go-ethereum/crypto"

	"paimon/bench/internal/benchkit"
)

// walletLogin signs in a new wallet (nonce, personal_sign of the message, login) and returns
// its session token.
func walletLogin(ctx context.Context, n *benchkit.Node) (string, error) {
	key, err := crypto.GenerateKey()
	if err != nil {
		return "", err
	}
	return benchkit.WalletLogin(ctx, n, key)
}
