package token

import "github.com/golang-jwt/jwt/v5"

// claimMap is the claims a token is parsed into (parse fills m): a
// jwt.MapClaims, numbers as json.Number, as the parser's WithJSONNumber
// makes them, behind a pointer the validator takes as its jwt.Claims.
type claimMap struct{ m jwt.MapClaims }

// The jwt.Claims methods, those of the map.

func (c *claimMap) GetExpirationTime() (*jwt.NumericDate, error) { return c.m.GetExpirationTime() }
func (c *claimMap) GetIssuedAt() (*jwt.NumericDate, error)       { return c.m.GetIssuedAt() }
func (c *claimMap) GetNotBefore() (*jwt.NumericDate, error)      { return c.m.GetNotBefore() }
func (c *claimMap) GetIssuer() (string, error)                   { return c.m.GetIssuer() }
func (c *claimMap) GetSubject() (string, error)                  { return c.m.GetSubject() }
func (c *claimMap) GetAudience() (jwt.ClaimStrings, error)       { return c.m.GetAudience() }
