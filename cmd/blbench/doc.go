// Command blbench runs blnode's benchmark scenarios side by side with what
// a user would otherwise deploy — a Redis denylist (SET jti … EXAT exp,
// EXISTS jti on every request), or the original, Django REST framework
// Simple JWT's verify and blacklist views — and with the physical floor (a
// Go map), on this machine, in one run, and writes a Markdown report with
// PNG charts.
//
//	go run ./cmd/blbench -scenarios check,verify,write,propagation,replay,flush,memory,django,feed   # the report in ./BENCHMARKS.md and ./bench/ (about 16 minutes)
//	go run ./cmd/blbench -scenarios fleet,regions,join -rounds 3 -out docs/bench-scale   # the scale report (about 25 minutes)
//	go run ./cmd/blbench                      # every scenario, default sizes, one report in ./BENCHMARKS.md
//	go run ./cmd/blbench -quick               # small sizes, a smoke test that stops itself after 4 minutes, report in a temp dir
//	go run ./cmd/blbench -scenarios check,write -rounds 7 -out /tmp/b
//	go run ./cmd/blbench -scenarios fleet -fleet-sizes 10,100,200 -fleet-rates 1000,100 -fleet-duration 5s
//	go run ./cmd/blbench -scenarios regions -regions-count 5 -regions-validators 40 -regions-rate 100
//	go run ./cmd/blbench -scenarios django -rounds 2 -out /tmp/djb   # Simple JWT's authentication against blnode_django's
//	go run ./cmd/blbench -scenarios feed -rounds 2 -out /tmp/fb    # GET /v1/feed to 1, 100 and 500 SSE clients
//
// It starts everything itself on loopback: blnode nodes in-process
// (node.New) and as processes of the blnode binary (built into a temp dir),
// a 3-server NATS cluster in-process, redis-server processes from PATH, and
// gunicorn serving a minimal Django project (internal/original) with Debian's
// Simple JWT.
// The fleet scenario runs one full node and N validators in this process,
// each validator with its own data dir, NATS connection, subscription and
// replica, and reports per N propagation percentiles, what is missing, and
// a validator's memory and CPU (live and idle).
// The regions scenario lays out deploy/multi-region in one process: R
// regions, each one nats-server with its own JetStream domain (region 0 the
// hub, the others its leaf nodes), a write stream and an aggregate per
// region, a full node and V validators per region, writes in every region;
// it reports same-region and cross-region propagation.
// The django scenario serves one protected Django REST framework view
// (cmd/blbench/djangoproject) with gunicorn three times, the same settings
// and database but for the authentication class: Simple JWT's own
// JWTAuthentication with its token_blacklist tables filled, and
// blnode_django's (clients/django, installed with pip into a virtual
// environment) asking a blnode process holding the same blacklist, on
// every request or through its local cache; it reports requests/s and
// latency of each against Simple JWT's, after checking that each lets a
// valid token through and refuses a revoked one.
// The feed scenario runs one full node (a blnode serve process with its
// embedded NATS server) and, for each client count (-sizes feed=1/100/500),
// as many Server-Sent Events clients of GET /v1/feed in this process, each
// on its own TCP connection; it reports the delay from a write's
// acknowledgement to each client's receipt, the events/s the clients
// receive during a burst of writes beside the writer's rate, and the
// events/s of clients resuming from the sequence before the burst, after
// checking that every client received every write exactly once.
// It stops everything it started, and every load loop is bounded in count
// and time.
//
// Contenders of a scenario are measured in alternating rounds (A B C, A B C,
// …) so that drift of a noisy machine hits all of them alike; each figure is
// reported as min / median / max over rounds, and each comparison as a
// ratio computed pair by pair (round i of A against round i of B).
//
// Targets are ratios against an anchor measured in the same run wherever
// one exists, and met only when the median of the pairs meets them: the
// net/http floor (cmd/blfloor, built beside blnode and run as a process of
// its own) for HTTP verify, Redis with appendfsync always for durable
// writes, a bare JetStream publish → ordered consumers on the same cluster
// for propagation, a bare bbolt delete of the same keys for flush, a bare
// decode-and-insert of the same stream for replay. The targets left
// absolute must beat their goal by a stated margin. The report gives each
// target's basis, and the spread of the figure it judges, (max − min) ÷
// median over its pairs or rounds, beside its headroom.
//
// # Caveats
//
//   - The load generator shares the machine's cores with what it measures;
//     the verify and write scenarios drive their HTTP contenders with a
//     client of their own built like wrk (rawhttp.go), far cheaper than
//     net/http's; the verify scenario reports its CPU use beside the
//     server's, and the
//     feed scenario's SSE clients (up to 500, each decoding every event)
//     are part of what it measures.
//   - Single-operation latencies are timed with time.Now around each call;
//     the report gives the timer's own cost, which is included in them.
//   - Without redis-server on PATH the Redis contenders are not measured,
//     nor the original without gunicorn and Debian's python3 with Simple
//     JWT; the report marks them missing and blbench exits non-zero unless
//     -allow-missing is given. The django scenario needs the same, and the
//     module's source (clients/django).
package main
