package chainlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Kind is the kind of a fund contract; it selects the events the contract emits.
type Kind uint8

// The contract kinds. The numbers are stored in commands and records: never renumber.
const (
	KindVault             Kind = 1
	KindRedemptionManager Kind = 2
	KindAssetController   Kind = 3
	KindOracle            Kind = 4
)

var kindNames = [...]string{"", "vault", "redemption_manager", "asset_controller", "oracle"}

// ParseKind parses a contract kind as written in the config ("vault", "redemption_manager",
// "asset_controller", "oracle").
func ParseKind(s string) (Kind, error) {
	for i := 1; i < len(kindNames); i++ {
		if kindNames[i] == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown contract kind %q", ErrConfig, s)
}

// String returns the config name of the kind.
func (k Kind) String() string {
	if k >= 1 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k Kind) valid() bool { return k >= KindVault && k <= KindOracle }

// ArgType is the type of a decoded event argument.
type ArgType uint8

// The argument types the fund's events use.
const (
	ArgAddress ArgType = 1
	ArgUint256 ArgType = 2
	ArgUint8   ArgType = 3
	ArgBool    ArgType = 4
	ArgString  ArgType = 5
)

var argTypeABI = [...]string{"", "address", "uint256", "uint8", "bool", "string"}

// String returns the Solidity type name.
func (t ArgType) String() string {
	if t >= 1 && int(t) < len(argTypeABI) {
		return argTypeABI[t]
	}
	return fmt.Sprintf("argtype(%d)", uint8(t))
}

// ArgSpec is one declared event parameter.
type ArgSpec struct {
	Name    string
	Type    ArgType
	Indexed bool
}

// Spec describes one known event. ID is stored in keys and records: never renumber.
type Spec struct {
	ID      uint8
	Kind    Kind
	Name    string
	Args    []ArgSpec
	sig     string
	topic   common.Hash
	indexed int // number of indexed args (topics after topic 0)
	heads   int // number of 32-byte head words in data
	dynamic bool
}

// specTable lists every event of EVENTS.md, written as there. Append only.
var specTable = []struct {
	id   uint8
	kind Kind
	decl string
}{
	{1, KindVault, "Transfer(address idx from, address idx to, uint256 value)"},
	{2, KindVault, "Deposit(address idx sender, address idx owner, uint256 assets, uint256 shares)"},
	{3, KindVault, "Withdraw(address idx sender, address idx receiver, address idx owner, uint256 assets, uint256 shares)"},
	{4, KindVault, "SharesLocked(address idx owner, uint256 shares)"},
	{5, KindVault, "SharesUnlocked(address idx owner, uint256 shares)"},
	{6, KindVault, "SharesBurned(address idx owner, uint256 shares)"},
	{7, KindVault, "NavUpdated(uint256 oldNav, uint256 newNav, uint256 timestamp)"},
	{8, KindVault, "EmergencyModeChanged(bool enabled)"},
	{9, KindVault, "RedemptionFeeAdded(uint256 fee)"},
	{10, KindVault, "RedemptionFeeReduced(uint256 fee)"},
	{11, KindRedemptionManager, "RedemptionRequested(uint256 idx requestId, address idx owner, address receiver, uint256 shares, uint256 lockedAmount, uint256 estimatedFee, uint8 channel, bool requiresApproval, uint256 settlementTime, uint256 windowId)"},
	{12, KindRedemptionManager, "RedemptionApproved(uint256 idx requestId, address idx approver, uint256 settlementTime)"},
	{13, KindRedemptionManager, "RedemptionRejected(uint256 idx requestId, address idx rejector, string reason)"},
	{14, KindRedemptionManager, "RedemptionCancelled(uint256 idx requestId, address idx owner)"},
	{15, KindRedemptionManager, "RedemptionSettled(uint256 idx requestId, address idx owner, address receiver, uint256 grossAmount, uint256 fee, uint256 netAmount, uint8 channel)"},
	{16, KindRedemptionManager, "LowLiquidityAlert(uint256 currentRatio, uint256 threshold, uint256 available, uint256 total)"},
	{17, KindRedemptionManager, "CriticalLiquidityAlert(uint256 currentRatio, uint256 threshold, uint256 available)"},
	{18, KindAssetController, "AssetAdded(address idx token, uint8 tier, uint256 allocation)"},
	{19, KindAssetController, "AssetRemoved(address idx token)"},
	{20, KindAssetController, "AssetAllocationUpdated(address idx token, uint256 oldAllocation, uint256 newAllocation)"},
	{21, KindAssetController, "AssetPurchased(address idx token, uint8 tier, uint256 usdtAmount, uint256 tokensReceived)"},
	{22, KindAssetController, "AssetRedeemed(address idx token, uint8 tier, uint256 tokenAmount, uint256 usdtReceived)"},
	{23, KindAssetController, "WaterfallLiquidation(uint8 tier, address idx token, uint256 amountLiquidated, uint256 usdtReceived)"},
	{24, KindAssetController, "LayerConfigUpdated(uint8 idx tier, uint256 targetRatio, uint256 minRatio, uint256 maxRatio)"},
	{25, KindAssetController, "ManagementFeeCollected(uint256 feeAmount, uint256 totalAssets, uint256 period)"},
	{26, KindAssetController, "PerformanceFeeCollected(uint256 feeAmount, uint256 profit, uint256 newHighWaterMark)"},
	{27, KindOracle, "PriceSet(address idx asset, uint256 price, uint256 timestamp, uint8 source)"},
}

// The event spec ids (Spec.ID), in spec-table order. They are stored in keys and records:
// append only, never renumber.
const (
	Transfer uint8 = iota + 1
	Deposit
	Withdraw
	SharesLocked
	SharesUnlocked
	SharesBurned
	NavUpdated
	EmergencyModeChanged
	RedemptionFeeAdded
	RedemptionFeeReduced
	RedemptionRequested
	RedemptionApproved
	RedemptionRejected
	RedemptionCancelled
	RedemptionSettled
	LowLiquidityAlert
	CriticalLiquidityAlert
	AssetAdded
	AssetRemoved
	AssetAllocationUpdated
	AssetPurchased
	AssetRedeemed
	WaterfallLiquidation
	LayerConfigUpdated
	ManagementFeeCollected
	PerformanceFeeCollected
	PriceSet
	NumSpecs = PriceSet
)

var (
	specsByID    [NumSpecs + 1]*Spec
	specsByName  = map[string]*Spec{}
	specsByTopic [KindOracle + 1]map[common.Hash]*Spec
	builtinABIs  [KindOracle + 1][]byte
)

func init() {
	for _, row := range specTable {
		s := parseDecl(row.decl)
		s.ID, s.Kind = row.id, row.kind
		specsByID[s.ID] = s
		specsByName[s.Name] = s
		if specsByTopic[s.Kind] == nil {
			specsByTopic[s.Kind] = map[common.Hash]*Spec{}
		}
		specsByTopic[s.Kind][s.topic] = s
	}
	for k := KindVault; k <= KindOracle; k++ {
		builtinABIs[k] = renderABI(k)
	}
}

// parseDecl parses "Name(type [idx] name, ...)" from the spec table; it panics on a typo,
// which the package tests catch at init.
func parseDecl(decl string) *Spec {
	open := strings.IndexByte(decl, '(')
	s := &Spec{Name: decl[:open]}
	types := make([]string, 0, 10)
	for _, part := range strings.Split(strings.TrimSuffix(decl[open+1:], ")"), ", ") {
		f := strings.Fields(part)
		a := ArgSpec{Name: f[len(f)-1]}
		for t := ArgAddress; t <= ArgString; t++ {
			if argTypeABI[t] == f[0] {
				a.Type = t
			}
		}
		if a.Type == 0 || len(f) > 3 || (len(f) == 3 && f[1] != "idx") {
			panic("chainlog: bad event declaration " + decl)
		}
		a.Indexed = len(f) == 3
		if a.Indexed {
			s.indexed++
		} else {
			s.heads++
			if a.Type == ArgString {
				s.dynamic = true
			}
		}
		s.Args = append(s.Args, a)
		types = append(types, f[0])
	}
	s.sig = s.Name + "(" + strings.Join(types, ",") + ")"
	s.topic = crypto.Keccak256Hash([]byte(s.sig))
	return s
}

type abiInput struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Indexed bool   `json:"indexed"`
}

type abiEntry struct {
	Type      string     `json:"type"`
	Name      string     `json:"name"`
	Anonymous bool       `json:"anonymous"`
	Inputs    []abiInput `json:"inputs"`
}

func renderABI(k Kind) []byte {
	var entries []abiEntry
	for _, s := range specsByID[1:] {
		if s.Kind != k {
			continue
		}
		e := abiEntry{Type: "event", Name: s.Name, Inputs: []abiInput{}}
		for _, a := range s.Args {
			e.Inputs = append(e.Inputs, abiInput{Name: a.Name, Type: a.Type.String(), Indexed: a.Indexed})
		}
		entries = append(entries, e)
	}
	b, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// BuiltinABI returns the JSON ABI (events only) the package uses for a contract kind when its
// config gives no abi_file: exactly the events of EVENTS.md. It returns nil for an unknown kind.
func BuiltinABI(k Kind) []byte {
	if !k.valid() {
		return nil
	}
	return append([]byte(nil), builtinABIs[k]...)
}

// ContractConfig is one [[ingest.contracts]] entry. ABI is the content of its abi_file; nil
// selects the built-in ABI of the kind.
type ContractConfig struct {
	Name    string
	Kind    string
	Address string
	ABI     []byte
}

type contract struct {
	name string
	kind Kind
}

// Registry maps configured contract addresses to their kinds and decodes their logs. It is
// immutable after NewRegistry and safe for concurrent use.
type Registry struct {
	contracts map[common.Address]contract
	addrs     []common.Address
}

// NewRegistry validates the contract list (names unique and non-empty, addresses valid and
// unique, kinds known, every operator ABI parses and declares the kind's events with the same
// types and indexed flags) and builds a Registry.
func NewRegistry(cs []ContractConfig) (*Registry, error) {
	r := &Registry{contracts: make(map[common.Address]contract, len(cs))}
	names := make(map[string]bool, len(cs))
	for i, c := range cs {
		if c.Name == "" {
			return nil, fmt.Errorf("%w: contract %d: name is empty", ErrConfig, i)
		}
		if names[c.Name] {
			return nil, fmt.Errorf("%w: contract %q: duplicate name", ErrConfig, c.Name)
		}
		names[c.Name] = true
		k, err := ParseKind(c.Kind)
		if err != nil {
			return nil, fmt.Errorf("contract %q: %w", c.Name, err)
		}
		addr, err := parseAddr(c.Address)
		if err != nil {
			err = fmt.Errorf("address %q must be 0x followed by 40 hex digits", c.Address)
			return nil, fmt.Errorf("%w: contract %q: address: %w", ErrConfig, c.Name, err)
		}
		if prev, dup := r.contracts[addr]; dup {
			return nil, fmt.Errorf("%w: contract %q: address %s already used by %q", ErrConfig, c.Name, HexAddress(addr), prev.name)
		}
		if c.ABI != nil {
			if err := checkABI(k, c.ABI); err != nil {
				return nil, fmt.Errorf("%w: contract %q (%s): %w", ErrConfig, c.Name, k, err)
			}
		}
		r.contracts[addr] = contract{name: c.Name, kind: k}
		r.addrs = append(r.addrs, addr)
	}
	sort.Slice(r.addrs, func(i, j int) bool { return bytes.Compare(r.addrs[i][:], r.addrs[j][:]) < 0 })
	return r, nil
}

// Addresses returns the configured contract addresses in ascending order (for eth_getLogs).
func (r *Registry) Addresses() []common.Address { return append([]common.Address(nil), r.addrs...) }

// ContractName returns the configured name of the contract at addr, if any.
func (r *Registry) ContractName(addr common.Address) (string, bool) {
	c, ok := r.contracts[addr]
	return c.name, ok
}

// checkABI verifies that an operator ABI declares every event the kind needs with the
// built-in's types and indexed flags (parameter names may differ; the built-in names are used).
func checkABI(k Kind, raw []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("abi does not parse: %v", p)
		}
	}()
	parsed, err := abi.JSON(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("abi does not parse: %w", err)
	}
	evNames := make([]string, 0, len(parsed.Events))
	for n := range parsed.Events {
		evNames = append(evNames, n)
	}
	sort.Strings(evNames)
	for _, s := range specsByID[1:] {
		if s.Kind != k {
			continue
		}
		found, sawName := false, false
		for _, n := range evNames {
			ev := parsed.Events[n]
			if ev.RawName != s.Name {
				continue
			}
			sawName = true
			if compatible(s, ev) {
				found = true
				break
			}
		}
		switch {
		case !sawName:
			return fmt.Errorf("abi lacks event %s", s.Name)
		case !found:
			return fmt.Errorf("abi event %s is not compatible with %s (types and indexed flags must match)", s.Name, s.declString())
		}
	}
	return nil
}

func compatible(s *Spec, ev abi.Event) bool {
	if ev.Anonymous || len(ev.Inputs) != len(s.Args) {
		return false
	}
	for i, in := range ev.Inputs {
		if in.Type.String() != s.Args[i].Type.String() || in.Indexed != s.Args[i].Indexed {
			return false
		}
	}
	return ev.ID == s.topic
}

func (s *Spec) declString() string {
	parts := make([]string, len(s.Args))
	for i, a := range s.Args {
		idx := ""
		if a.Indexed {
			idx = " indexed"
		}
		parts[i] = a.Type.String() + idx + " " + a.Name
	}
	return s.Name + "(" + strings.Join(parts, ", ") + ")"
}

// EventNames returns the names of every known event in spec order (for query validation).
func EventNames() []string {
	out := make([]string, 0, NumSpecs)
	for _, s := range specsByID[1:] {
		out = append(out, s.Name)
	}
	return out
}

// SpecByID returns the spec with the given id, or nil.
func SpecByID(id uint8) *Spec {
	if id == 0 || int(id) >= len(specsByID) {
		return nil
	}
	return specsByID[id]
}

// SpecByName returns the spec of the named event, or nil.
func SpecByName(name string) *Spec { return specsByName[name] }

// Specs returns every known event spec in id order (index 0 is id 1). The specs are shared:
// callers must not modify them.
func Specs() []*Spec { return specsByID[1:] }
