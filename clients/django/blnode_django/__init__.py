"""blnode_django: Simple JWT's token blacklist kept in blnode.

Add "blnode_django" to INSTALLED_APPS, set BLNODE_URL, and use
blnode_django.authentication.JWTAuthentication and the views of
blnode_django.views in place of Simple JWT's. See README.md.

Caveats:

- Every authenticated request asks blnode (POST /v1/check) unless
  BLNODE_CACHE_SECONDS is set: then a "valid" answer is reused for at most
  that many seconds, which is how late a revocation can be seen.
- When blnode cannot answer, a check (authentication, verify, refresh)
  fails with 503 (blnode_django.exceptions.ServiceUnavailable) unless
  BLNODE_FAIL_OPEN is True; then the token is let through as Simple JWT
  without a blacklist would. The blacklist view never fails open: a logout
  blnode did not record is answered 503.
"""

__version__ = "0.1.0"
