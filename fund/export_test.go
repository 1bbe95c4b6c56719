package fund

import (
	"github.com/ethereum/go-ethereum/common"
	"paimon/kv"
)

// The read model (package readmodel) renders the JSON that many of these behaviour tests
// check, but fund does not import it (readmodel imports fund). These hooks give the tests its
// functions under their readmodel names; readmodel_test.go (package fund_test, which may
// import readmodel) fills them before any test runs. The query types mirror readmodel's
// field for field, so that the hooks convert them. Tests of the read model itself are in
// readmodel.

// Page, RedemptionFilter, AuditFilter, PriceQuery and NavQuery mirror readmodel's.
type (
	Page struct {
		Limit  int
		Cursor []byte
	}
	RedemptionFilter struct {
		Status           string
		Channel          string
		Owner            *common.Address
		RequiresApproval *bool
	}
	AuditFilter struct {
		Actor, Action string
	}
	PriceQuery struct {
		History        bool
		From, To       int64
		HasFrom, HasTo bool
		Limit          int
	}
	NavQuery struct {
		From, To       int64
		HasFrom, HasTo bool
		Interval       string
		Limit          int
	}
)

// readmodel's constants the tests use (readmodel_test.go checks they are the same).
const (
	ViewOverview = "overview"
	ViewNav      = "nav"
	ViewTiers    = "tiers"
	ViewAssets   = "assets"
	ViewFlows    = "flows"
	ViewPrices   = "prices"
	ViewRisk     = "risk"

	IntervalRaw = "raw"
	MaxLimit    = 1000
)

// readmodel's functions (filled by readmodel_test.go).
var (
	NewViews    func(Info) ViewRenderer
	ViewNames   func() []string
	ReadView    func(r kv.Reader, name string) ([]byte, error)
	Account     func(r kv.Reader, addr common.Address) ([]byte, error)
	Price       func(r kv.Reader, asset string, q PriceQuery) ([]byte, error)
	NavHistory  func(r kv.Reader, q NavQuery) ([]byte, error)
	Redemption  func(r kv.Reader, id string) ([]byte, error)
	Redemptions func(r kv.Reader, f RedemptionFilter, p Page) ([]byte, error)
	Audit       func(r kv.Reader, f AuditFilter, p Page) ([]byte, error)
	LedgerEntry func(r kv.Reader, tx common.Hash, logIndex uint64) ([]byte, error)
	RecordJSON  func(key, value []byte) ([]byte, bool, error)
	ParseTime   func(name, s string) (int64, error)
)
