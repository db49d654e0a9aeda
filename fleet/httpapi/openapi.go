package httpapi

import _ "embed"

// openapiJSON is the OpenAPI 3 description served at /api/v1/openapi.json;
// TestOpenAPIMatchesRoutes keeps it true to the registered routes.
//
//go:embed openapi.json
var openapiJSON []byte
