// Package api holds the API's contract as an OpenAPI 3.1 document (openapi.json), embedded in
// the binary and served at GET /v1/openapi.json.
//
// The document is written by hand and checked by tests against the code: server's
// TestOpenAPIMatchesRouteTable (every row of the route table is an operation with the same
// method, path, query parameters and security, and every operation is a row) and node's
// TestOpenAPIResponses (a node with a year of data answers every operation, and every answer,
// errors included, validates against the document).
package api

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document of the HTTP API (JSON).
//
//go:embed openapi.json
var OpenAPI []byte
