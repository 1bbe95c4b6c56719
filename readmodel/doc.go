// Package readmodel renders the API's JSON from the fund's state: the materialized views
// (Views, the fund.ViewRenderer every node's Machine is given), the paginated reads, the JSON
// of single records for push, and the query parsers of the read endpoints.
//
// It reads the state through fund's read-only accessors (key prefixes, record decoders) and
// writes nothing; fund does not import it. See DESIGN.md.
package readmodel
