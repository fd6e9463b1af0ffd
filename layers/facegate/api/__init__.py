"""The HTTP layer: Powertools resolvers, thin routes, one error table, the OpenAPI document."""
