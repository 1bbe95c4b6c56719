package benchkit

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
)

// WalletLogin signs the wallet of key in on n (POST /v1/auth/nonce, personal_sign of the
// message, POST /v1/auth/login) and returns its session token.
func WalletLogin(ctx context.Context, n *Node, key *ecdsa.PrivateKey) (string, error) {
	addr := strings.ToLower(crypto.PubkeyToAddress(key.PublicKey).Hex())
	code, b, err := n.Do(ctx, http.MethodPost, "/v1/auth/nonce", []byte(`{"address":"`+addr+`"}`), false)
	if err != nil || code != http.StatusOK {
		return "", fmt.Errorf("POST /v1/auth/nonce: %d %s %v", code, Snippet(b), err)
	}
	var nr struct{ Nonce, Message string }
	if err := json.Unmarshal(b, &nr); err != nil {
		return "", err
	}
	sig, err := crypto.Sign(accounts.TextHash([]byte(nr.Message)), key)
	if err != nil {
		return "", err
	}
	sig[64] += 27
	body, _ := json.Marshal(map[string]string{"address": addr, "nonce": nr.Nonce, "signature": "0x" + hex.EncodeToString(sig)})
	code, b, err = n.Do(ctx, http.MethodPost, "/v1/auth/login", body, false)
	if err != nil || code != http.StatusOK {
		return "", fmt.Errorf("POST /v1/auth/login: %d %s %v", code, Snippet(b), err)
	}
	var lr struct{ Token string }
	if err := json.Unmarshal(b, &lr); err != nil || lr.Token == "" {
		return "", fmt.Errorf("POST /v1/auth/login: no token in %s", Snippet(b))
	}
	return lr.Token, nil
}
