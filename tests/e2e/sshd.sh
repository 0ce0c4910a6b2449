# sshd.sh - a private sshd on 127.0.0.1 for the e2e tests (POSIX sh).
#
# Source it after lib.sh.  Everything lives in $TRASH/ssh; the daemon's
# pid is recorded with start_bg, so lib.sh's cleanup stops it.
#
#   sshd_require [fuse]  print "1..0 # SKIP ..." and exit 0 unless sshd,
#                        ssh and ssh-keygen (and with "fuse": sshfs,
#                        fusermount3 and a usable /dev/fuse) are there;
#                        call it before plan
#   start_sshd           generate keys, start sshd on a free port, check
#                        a login; sets SSHD_PORT, SSHD_PID, SSH_KEY,
#                        SSH_USER, SSH_HOST and SSH_OPTS
#   ssh_cmd              the ssh command line, for rsync -e "$(ssh_cmd)"
#                        (scp: scp -P "$SSHD_PORT" $SSH_OPTS ...)
#
# The sshd logs to $TRASH/ssh/sshd.log (kept with the trash on failure).

SSHD_BIN=${SSHD_BIN:-/usr/sbin/sshd}
SSHD_DIR=$TRASH/ssh

# _sshd_skip REASON
_sshd_skip() {
	echo "1..0 # SKIP $*"
	exit 0
}

sshd_require() {
	[ -x "$SSHD_BIN" ] || _sshd_skip "no $SSHD_BIN (openssh-server)"
	for _sshd_c in ssh ssh-keygen; do
		command -v $_sshd_c >/dev/null 2>&1 ||
		    _sshd_skip "no $_sshd_c (openssh-client)"
	done
	# Privilege separation wants /run/sshd; only root may make it.
	if [ "$(id -u)" = 0 ]; then
		mkdir -p /run/sshd 2>/dev/null ||
		    _sshd_skip "cannot create /run/sshd"
	fi
	[ "${1:-}" = fuse ] || return 0
	command -v sshfs >/dev/null 2>&1 || _sshd_skip "no sshfs"
	command -v fusermount3 >/dev/null 2>&1 ||
	    command -v fusermount >/dev/null 2>&1 ||
	    _sshd_skip "no fusermount3 (fuse3)"
	[ -c /dev/fuse ] || _sshd_skip "no /dev/fuse"
	# Opening it needs no mount: a quick check of the permissions.
	( : <> /dev/fuse ) 2>/dev/null || _sshd_skip "/dev/fuse not usable"
}

# A port nobody listens on now (the kernel's choice for port 0).
_sshd_free_port() {
	/usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null ||
	    echo $((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
}

_sshd_listening() {
	grep -q "Server listening on 127.0.0.1 port $SSHD_PORT" \
	    "$SSHD_DIR/sshd.log"
}

ssh_cmd() {
	echo "ssh -p $SSHD_PORT $SSH_OPTS"
}

start_sshd() {
	mkdir -p "$SSHD_DIR" && chmod 700 "$SSHD_DIR" || {
		echo "Bail out! cannot create $SSHD_DIR"; exit 1; }
	SSH_USER=$(id -un)
	SSH_HOST=127.0.0.1
	SSH_KEY=$SSHD_DIR/id_ed25519
	if ! ssh-keygen -q -t ed25519 -N '' -C spoold-e2e-host \
	    -f "$SSHD_DIR/host_ed25519" </dev/null >/dev/null 2>&1 ||
	    ! ssh-keygen -q -t ed25519 -N '' -C spoold-e2e-client \
	    -f "$SSH_KEY" </dev/null >/dev/null 2>&1; then
		echo "Bail out! ssh-keygen failed"
		exit 1
	fi
	cp "$SSH_KEY.pub" "$SSHD_DIR/authorized_keys"
	chmod 600 "$SSHD_DIR/authorized_keys"
	SSH_OPTS="-i $SSH_KEY -o IdentitiesOnly=yes -o BatchMode=yes \
-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
-o LogLevel=ERROR -o ConnectTimeout=10"
	_sshd_try=0
	while :; do
		_sshd_try=$((_sshd_try + 1))
		SSHD_PORT=$(_sshd_free_port)
		cat > "$SSHD_DIR/sshd_config" <<EOC
ListenAddress 127.0.0.1
Port $SSHD_PORT
HostKey $SSHD_DIR/host_ed25519
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile $SSHD_DIR/authorized_keys
AllowUsers $SSH_USER
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PrintMotd no
UseDNS no
MaxStartups 50
MaxSessions 50
LogLevel VERBOSE
Subsystem sftp internal-sftp
EOC
		: > "$SSHD_DIR/sshd.log"
		start_bg "$SSHD_BIN" -D -e -f "$SSHD_DIR/sshd_config" \
		    2>>"$SSHD_DIR/sshd.log" </dev/null
		SSHD_PID=$LAST_PID
		# Listening, or gone (most likely: the port was taken).
		_sshd_i=0
		while ! _sshd_listening && kill -0 "$SSHD_PID" 2>/dev/null &&
		    [ $_sshd_i -lt 100 ]; do
			sleep 0.1; _sshd_i=$((_sshd_i + 1))
		done
		_sshd_listening && break
		kill -TERM "$SSHD_PID" 2>/dev/null
		wait "$SSHD_PID" 2>/dev/null
		_pids=$(echo " $_pids " | sed "s/ $SSHD_PID / /")
		if [ $_sshd_try -ge 5 ]; then
			echo "Bail out! sshd did not start: $(tail -n 3 \
			    "$SSHD_DIR/sshd.log" | tr '\n' ' ')"
			exit 1
		fi
	done
	if ! timeout 20 ssh -p "$SSHD_PORT" $SSH_OPTS "$SSH_USER@$SSH_HOST" \
	    true </dev/null >/dev/null 2>>"$SSHD_DIR/ssh.log"; then
		echo "Bail out! no login to the test sshd: $(tail -n 3 \
		    "$SSHD_DIR/sshd.log" "$SSHD_DIR/ssh.log" | tr '\n' ' ')"
		exit 1
	fi
}
