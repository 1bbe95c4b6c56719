package fundchain

import (
	"bytes"
	"embed"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
)

// The artifacts are the compiled contracts, committed so that building and testing need no
// Solidity compiler; `go generate ./internal/fundchain` rebuilds them from contracts/*.sol.
//
//go:generate sh ../../contracts/build.sh artifacts

//go:embed artifacts
var artifactFS embed.FS

// Contract names one of the contracts fundchain deploys.
type Contract int

// The contracts, in deployment order.
const (
	USDT Contract = iota // the stablecoin (MockERC20)
	Oracle
	Vault
	RedemptionManager
	AssetController
	numContracts
)

// artifactNames are the Solidity contract names (the artifacts' file names) of each Contract.
var artifactNames = [numContracts]string{"MockERC20", "PaimonPriceOracle", "PaimonVault", "PaimonRedemptionManager", "PaimonAssetController"}

// String returns the contract's Solidity name.
func (c Contract) String() string {
	if c < 0 || c >= numContracts {
		return fmt.Sprintf("Contract(%d)", int(c))
	}
	return artifactNames[c]
}

type artifact struct {
	abi  abi.ABI
	code []byte // creation bytecode
}

var artifacts = func() (a [numContracts]artifact) {
	for c := USDT; c < numContracts; c++ {
		a[c] = loadArtifact(artifactNames[c])
	}
	return a
}()

// loadArtifact reads one committed artifact; it panics on a broken file, which every test of
// the package would show.
func loadArtifact(name string) artifact {
	j, err := artifactFS.ReadFile("artifacts/" + name + ".abi")
	if err != nil {
		panic("fundchain: " + err.Error())
	}
	parsed, err := abi.JSON(bytes.NewReader(j))
	if err != nil {
		panic(fmt.Sprintf("fundchain: %s.abi: %v", name, err))
	}
	h, err := artifactFS.ReadFile("artifacts/" + name + ".bin")
	if err != nil {
		panic("fundchain: " + err.Error())
	}
	code, err := hex.DecodeString(strings.TrimSpace(string(h)))
	if err != nil || len(code) == 0 {
		panic(fmt.Sprintf("fundchain: %s.bin: not hex bytecode", name))
	}
	return artifact{abi: parsed, code: code}
}

// ABI returns a contract's ABI (functions, events and errors, as compiled).
func ABI(c Contract) abi.ABI { return artifacts[c].abi }

// ABIJSON returns a contract's ABI as committed (the JSON an ingest abi_file can point to).
func ABIJSON(c Contract) []byte {
	b, err := artifactFS.ReadFile("artifacts/" + artifactNames[c] + ".abi")
	if err != nil {
		panic("fundchain: " + err.Error())
	}
	return b
}

// Pack ABI-encodes a call of method on contract c: the calldata of a transaction, for a
// sender that signs its own (the executor records the signed bytes before sending them).
func Pack(c Contract, method string, args ...any) ([]byte, error) {
	a := artifacts[c].abi
	data, err := a.Pack(method, args...)
	if err != nil {
		return nil, fmt.Errorf("fundchain: %s.%s: %w", c, method, err)
	}
	return data, nil
}
