#!/bin/sh
# An https endpoint that offers HTTP/2 (nginx in front of the mock, with
# a certificate of our own): the requests are multiplexed as streams
# over a connection per worker; the certificate is checked against the
# endpoint's ca_file; a certificate that cannot be trusted pauses the
# endpoint (nothing spent, nothing dead-lettered) until it can be.
. "$SPOOLD_SRC/tests/e2e/lib.sh"
plan 10
install_prefix
start_mock --latency 300
MOCK_PORT=$(cat "$TRASH/mock.port")

# A certificate for 127.0.0.1, trusted by nobody but our ca_file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -keyout "$TRASH/key.pem" -out "$TRASH/cert.pem" -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    2>"$TRASH/openssl.log" || { echo "Bail out! openssl req failed"; exit 1; }

# nginx: TLS and HTTP/2 towards us, HTTP/1.1 with keep-alive to the
# mock; one line per request: protocol, connection serial number.
mkdir -p "$TRASH/nginx"
start_nginx() {
	NGINX_PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	N=$TRASH/nginx
	cat > "$N/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $N/nginx.pid;
error_log $N/error.log warn;
events { worker_connections 1024; }
http {
	log_format streams '\$server_protocol \$connection \$status';
	access_log $N/access.log streams;
	client_body_temp_path $N; proxy_temp_path $N;
	fastcgi_temp_path $N; uwsgi_temp_path $N; scgi_temp_path $N;
	upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 256; }
	server {
		listen 127.0.0.1:$NGINX_PORT ssl http2;
		ssl_certificate $TRASH/cert.pem;
		ssl_certificate_key $TRASH/key.pem;
		location / {
			proxy_pass http://mock;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
EOF
	start_bg nginx -p "$N" -c "$N/nginx.conf" -e "$N/error.log"
	NGINX_PID=$LAST_PID
	wait_for 10 curl -sf -o /dev/null --cacert "$TRASH/cert.pem" \
	    "https://127.0.0.1:$NGINX_PORT/v1/models"
}
# The port is picked before nginx binds it: another may take it first.
for try in 1 2 3; do
	start_nginx && break
	kill -TERM "$NGINX_PID" 2>/dev/null
done
kill -0 "$NGINX_PID" 2>/dev/null || { echo "Bail out! nginx did not start"; exit 1; }
URL=https://127.0.0.1:$NGINX_PORT
: > "$TRASH/nginx/access.log"

# 256 requests, 2 workers x 64 in flight, 300 ms each.
spoolctl -d "$SPOOL" init >/dev/null
printf '[spool]\nsettle = 100ms\n[workers]\nprocesses = 2\ninflight = 64\n[endpoint default]\nbase_url = %s\nca_file = %s\n' \
    "$URL" "$TRASH/cert.pem" > "$TRASH/trusted.conf"
make_batch 256 "$TRASH/h2.jsonl"
drop "$TRASH/h2.jsonl"
timeout 120 $VALGRIND spoold -c "$TRASH/trusted.conf" -d "$SPOOL" --once \
    2>"$TRASH/spoold.log"
rc=$?
R=$SPOOL/results/h2
check "--once exits 0 with all 256 done over https" test $rc = 0 -a \
    "$(lines "$R/output.jsonl")" = 256 -a ! -s "$R/errors.jsonl"
LOG=$TRASH/nginx/access.log
check "nginx served 256 requests, every one over HTTP/2" \
    test "$(grep -c '^HTTP/2.0 .* 200$' "$LOG")" = 256 -a "$(lines "$LOG")" = 256
conns=$(awk '{ print $2 }' "$LOG" | sort -u | wc -l)
diag "256 requests over $conns connections"
# One per worker; a few more if a worker opened one before it learnt
# that the first multiplexes.
check "multiplexed: at most 4 connections for 128 in flight" test "$conns" -le 4
curl -s "$MOCK_URL/stats" > "$TRASH/stats.json"
peak=$(json "$TRASH/stats.json" 'd["peak_in_progress"]')
diag "the mock saw up to $peak at once"
check "the streams ran side by side: 100 or more at once" test "$peak" -ge 100

# The same endpoint without our ca_file: the system trust store does not
# know the certificate.  The endpoint is paused; the log says why.
printf '[spool]\nsettle = 100ms\n[endpoint default]\nbase_url = %s\n' "$URL" \
    > "$TRASH/untrusted.conf"
start_bg $VALGRIND spoold -c "$TRASH/untrusted.conf" -d "$SPOOL" \
    2>>"$TRASH/spoold2.log"
SPOOLD_PID=$LAST_PID
make_batch 5 "$TRASH/mitm.jsonl"
drop "$TRASH/mitm.jsonl"
R=$SPOOL/results/mitm
check "an untrusted certificate pauses the endpoint, and the log says so" \
    wait_for 20 grep -q 'paused.*cannot connect (SSL certificate problem' \
    "$TRASH/spoold2.log"
sleep 3	# pauses of 1 and 2 s: probes, no attempts spent
check "nothing is dead-lettered meanwhile" \
    test ! -s "$R/errors.jsonl" -a ! -s "$R/output.jsonl"
check "nothing reached the mock past TLS" \
    test "$(lines "$LOG")" = 256
# Trust it (a reload): the paused requests go, none spent or lost.
printf '[spool]\nsettle = 100ms\n[endpoint default]\nbase_url = %s\nca_file = %s\n' \
    "$URL" "$TRASH/cert.pem" > "$TRASH/untrusted.conf"
kill -HUP "$SPOOLD_PID"
check "after a reload with ca_file, the batch completes" \
    wait_for 60 test -f "$R/manifest.json"
check "all 5 succeeded" \
    test "$(lines "$R/output.jsonl")" = 5 -a ! -s "$R/errors.jsonl"
check "the log says the endpoint is back" \
    grep -q 'endpoint default is back' "$TRASH/spoold2.log"
done_testing
