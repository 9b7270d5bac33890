// OAuth2 PKCE helpers: implemented with the auth/ layer (issue 3).
