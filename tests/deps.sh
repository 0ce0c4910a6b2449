#!/bin/sh
# Check the build and test dependencies; on Debian as root, install what
# is missing with apt-get, otherwise print the exact command to run.
set -u

# pkg-config name -> Debian package
libs="libcurl:libcurl4-openssl-dev libcjson:libcjson-dev
libarchive:libarchive-dev inih:libinih-dev
libmicrohttpd:libmicrohttpd-dev libcrypto:libssl-dev cmocka:libcmocka-dev
zlib:zlib1g-dev libdeflate:libdeflate-dev"
# command -> Debian package
cmds="pkg-config:pkg-config cc:gcc make:make prove:perl
valgrind:valgrind curl:curl python3:python3 sshd:openssh-server
ssh:openssh-client sshfs:sshfs rsync:rsync zip:zip unzip:unzip zstd:zstd
mandoc:mandoc promtool:prometheus clang:clang openssl:openssl nginx:nginx"

missing=""
command -v pkg-config >/dev/null 2>&1 || missing="pkg-config"
for pair in $libs; do
	pc=${pair%%:*}; deb=${pair#*:}
	if ! command -v pkg-config >/dev/null 2>&1 ||
	    ! pkg-config --exists "$pc"; then
		missing="$missing $deb"
	fi
done
for pair in $cmds; do
	c=${pair%%:*}; deb=${pair#*:}
	command -v "$c" >/dev/null 2>&1 || missing="$missing $deb"
done
# The e2e tests validate against OpenAI's schemas with Debian's jsonschema.
/usr/bin/python3 -c 'import jsonschema' >/dev/null 2>&1 ||
	missing="$missing python3-jsonschema"
# make fuzz links libFuzzer, which Debian's clang only recommends.
if command -v clang >/dev/null 2>&1; then
	rt=$(clang --print-runtime-dir 2>/dev/null)
	v=$(clang -dumpversion 2>/dev/null); v=${v%%.*}
	[ -f "$rt/libclang_rt.fuzzer-$(uname -m).a" ] ||
		missing="$missing libclang-rt-${v:-14}-dev"
else
	missing="$missing libclang-rt-14-dev"
fi

missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
if [ -z "${missing% }" ]; then
	echo "deps: all present"
	exit 0
fi
cmd="apt-get install -y --no-install-recommends $missing"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	echo "deps: installing $missing"
	export DEBIAN_FRONTEND=noninteractive
	# We want the programs (sshd, nginx, prometheus's promtool), not
	# their services: Debian's policy-rc.d hook keeps the packages from
	# starting daemons that listen on every address.
	policy=/usr/sbin/policy-rc.d
	ours=""
	if [ ! -e $policy ]; then
		printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy &&
		    ours=1
	fi
	rc=0
	if ! apt-get install -y --no-install-recommends $missing; then
		apt-get update && apt-get install -y --no-install-recommends \
		    $missing || rc=1
	fi
	[ -n "$ours" ] && rm -f $policy
	exit $rc
fi
echo "deps: missing: $missing" >&2
echo "deps: run as root: $cmd" >&2
exit 1
