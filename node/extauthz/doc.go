// Package extauthz serves a node's forward-auth check to Envoy over gRPC:
// envoy.service.auth.v3.Authorization/Check, the service Envoy's ext_authz
// filter calls with grpc_service (blnode serve --grpc-authz ADDR). It owns
// only the mapping between Envoy's messages and the forward-auth decision;
// the rules are forwardauth.Checker.Check, the same function /auth and the
// Go middleware call, so a token passes here exactly when /auth answers 200.
//
// A request's headers are read from CheckRequest.attributes.request.http:
// headers (Envoy's default, lower-case names) and header_map (Envoy's
// encode_raw_headers), as /auth reads its request's. Then:
//
//   - a pass answers status OK and an OkHttpResponse whose headers set the
//     X-Blnode-* headers /auth answers (user, jti, type; client, session
//     and scope when the token has them) on the upstream request,
//     overwriting any the client sent, and whose headers_to_remove drops
//     the X-Blnode-* headers the token has no value for, so that a client
//     cannot hand the upstream a client id or scope of its own; the JSON
//     body of /auth's 200 comes as the response's dynamic_metadata;
//   - a refusal answers status UNAUTHENTICATED and a DeniedHttpResponse with
//     /auth's status (401), its WWW-Authenticate challenge, Cache-Control:
//     no-store, and its JSON body ({"code":…,"detail":…});
//   - a node that cannot read its store answers status UNAVAILABLE and a
//     DeniedHttpResponse 503 with /auth's body: a gRPC answer, not a
//     transport error, so Envoy denies the request with 503 whatever its
//     failure_mode_allow says (as nginx does with /auth's 503). Only a
//     blnode that cannot be reached is left to failure_mode_allow (false:
//     Envoy answers 403, or its status_on_error).
//
// # Caveats
//
//   - The request body is never read: configure no with_request_body.
//   - A check whose deadline passes before the node has answered gets
//     DEADLINE_EXCEEDED; the check itself runs to its end in the background
//     (Verify can wait a moment for a JWK Set fetch, never longer than
//     --jwks-timeout).
//   - Messages are bounded: a CheckRequest over Config.MaxRecvMsgSize
//     (default 1 MiB; Envoy's request headers are at most 60 KiB unless
//     max_request_headers_kb says more) gets RESOURCE_EXHAUSTED, which Envoy
//     treats as an error (failure_mode_allow).
//   - No Envoy binary was available where this was written: the tests speak
//     to the server with a gRPC client built from go-control-plane's protos,
//     not with Envoy itself.
package extauthz
