package executor

import (
	"crypto/ecdsa"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
)

// LoadKey reads the executor's key file: a secp256k1 private key as 64 hex digits (optionally
// 0x-prefixed; go-ethereum's crypto.SaveECDSA format, which bench/chainsim -executor-key-out
// writes). Its errors name the file and what is wrong, never any of its content.
func LoadKey(path string) (*ecdsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("executor.key_file: %w", err)
	}
	s := strings.TrimPrefix(strings.TrimSpace(string(b)), "0x")
	raw, err := hex.DecodeString(s)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("executor.key_file %s: not a private key (want 64 hex digits)", path)
	}
	k, err := crypto.ToECDSA(raw)
	if err != nil {
		return nil, fmt.Errorf("executor.key_file %s: not a valid secp256k1 private key", path)
	}
	return k, nil
}
