// Package simplejwt reads the token blacklist of Django REST framework
// Simple JWT, for `blnode import`: its token_blacklist tables as its
// migrations leave them (0001 … 0013),
//
//	token_blacklist_outstandingtoken: id, jti varchar(255) unique, token text,
//	    created_at datetime NULL, expires_at datetime, user_id NULL
//	token_blacklist_blacklistedtoken: id, blacklisted_at datetime,
//	    token_id unique → outstandingtoken.id
//
// from a Django SQLite database file ([OpenSQLite]), or from the two tables
// exported as CSV with a header line ([OpenCSV]: PostgreSQL's COPY … TO …
// CSV HEADER; MySQL users can produce the same). Both are a [Source] of
// rows; rows are read as text, so both sources share one decoder,
// [DecodeRow], which turns a row into a store record.
//
// # Caveats
//
//   - The raw token column is read only for its token_type and iat claims,
//     and its signature is not checked: the rows come from the operator's
//     own database. It is never put in an error, and kept in the record
//     only with Options.KeepRaw (a stored refresh token is a live
//     credential).
//   - Datetimes without a zone are UTC, as Django stores them with USE_TZ;
//     years outside 1970 … 2261 are refused (records keep Unix
//     nanoseconds).
//   - A row that cannot be read is reported and skipped, not fatal; a CSV
//     file that cannot be read on ends the source.
//   - The SQLite driver is pure Go (no cgo) and opens the file read-only;
//     the CSV source holds the blacklisted table's ids and times in memory
//     while it reads the outstanding table.
package simplejwt
