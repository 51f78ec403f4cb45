package extauthz

import (
	"maps"
	"net/http"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/blnode/blnode/node/forwardauth"
	"github.com/blnode/blnode/node/nodehttp"
	"github.com/blnode/blnode/node/token"
)

// RequestHeader returns the headers of the HTTP request req describes, as
// /auth would see them: attributes.request.http.headers (names in any case)
// and header_map (Envoy's encode_raw_headers; raw_value, else value), in
// that order. A nil or partial req has no headers.
func RequestHeader(req *authv3.CheckRequest) http.Header {
	hr := req.GetAttributes().GetRequest().GetHttp()
	m := hr.GetHeaders()
	raw := hr.GetHeaderMap().GetHeaders()
	h := make(http.Header, len(m)+len(raw))
	// In name order: names that differ only in case (not Envoy's, which
	// are lower case) then come out the same on every call.
	for _, k := range slices.Sorted(maps.Keys(m)) {
		h.Add(k, m[k])
	}
	for _, hv := range raw {
		if hv == nil {
			continue
		}
		v := hv.GetValue()
		if r := hv.GetRawValue(); len(r) > 0 {
			v = string(r)
		}
		h.Add(hv.GetKey(), v)
	}
	return h
}

// Response maps a forward-auth decision to Envoy's answer: on a pass
// (f nil), OK with the X-Blnode-* headers of c set on the upstream request
// and the others removed from it, and /auth's JSON body as dynamic
// metadata (user, jti, token_type, client_id, sid, scope) for Envoy's later
// filters and access log; on a refusal, a DeniedHttpResponse with /auth's
// status, challenge and JSON body.
func Response(c token.Claims, f *forwardauth.Failure) *authv3.CheckResponse {
	if f == nil {
		fields := forwardauth.PassFields(c)
		ok := &authv3.OkHttpResponse{Headers: make([]*corev3.HeaderValueOption, 0, len(fields))}
		meta := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(fields))}
		set := make(map[string]bool, len(fields))
		for _, fd := range fields {
			ok.Headers = append(ok.Headers, overwrite(fd.Header, fd.Value))
			meta.Fields[fd.Key] = structpb.NewStringValue(fd.Value)
			set[fd.Header] = true
		}
		// Every header a pass may set: those c has no value for are
		// removed, so that the upstream sees none a client made up.
		for _, name := range [...]string{
			forwardauth.HeaderUser, forwardauth.HeaderJTI, forwardauth.HeaderTokenType,
			forwardauth.HeaderClientID, forwardauth.HeaderSession, forwardauth.HeaderScope,
		} {
			if !set[name] {
				ok.HeadersToRemove = append(ok.HeadersToRemove, strings.ToLower(name))
			}
		}
		return &authv3.CheckResponse{
			Status:          &rpcstatus.Status{Code: int32(codes.OK)},
			HttpResponse:    &authv3.CheckResponse_OkResponse{OkResponse: ok},
			DynamicMetadata: meta,
		}
	}
	denied := &authv3.DeniedHttpResponse{
		Status: &typev3.HttpStatus{Code: typev3.StatusCode(f.Status)},
		Body:   string(nodehttp.ErrorBody(f.Code, f.Detail)),
	}
	if ch := f.Challenge(); ch != "" {
		denied.Headers = append(denied.Headers, overwrite("WWW-Authenticate", ch))
	}
	denied.Headers = append(denied.Headers,
		overwrite("Cache-Control", "no-store"),
		overwrite("Content-Type", "application/json"))
	return &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(grpcCode(f.Status)), Message: f.Detail},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: denied},
	}
}

// overwrite is a header that replaces any of the same name, its name in
// lower case as HTTP/2 writes it.
func overwrite(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: strings.ToLower(name), Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// grpcCode is the status code of a CheckResponse refusing with the HTTP
// status.
func grpcCode(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusForbidden:
		return codes.PermissionDenied
	case http.StatusServiceUnavailable:
		return codes.Unavailable
	default:
		return codes.Unknown
	}
}
