// Package djangotest tests the Django package in clients/django
// (blnode_django) against the real parts: a blnode process built from this
// module, Debian's Django, Django REST framework and Simple JWT (the ones
// the tests against the original use, internal/original), the package
// installed with pip into a virtual environment, and a Django project
// (testdata/project) served by gunicorn. It holds tests only; they are Go
// tests so that scripts/test runs them, with the package's Python unit
// tests.
//
// # Caveats
//
//   - It needs what internal/original needs (scripts/install-test-deps
//     installs it); BLNODE_SKIP_ORIGINAL=1 skips it, as it skips those.
//   - pip installs offline (--no-index --no-build-isolation): Debian's
//     setuptools builds the package and Debian's Django, DRF and Simple JWT
//     satisfy its dependencies, seen through --system-site-packages.
package djangotest
