#!/usr/bin/env bash
# Test PKI for the TLS tests, made with the openssl CLI at test time (nothing
# secret is committed, nothing expires in the repository).
#
#   bash tests/tls/make_certs.sh OUT_DIR
#
# Writes into OUT_DIR (PEM, RSA 2048: ClickHouse 18.16's bundled OpenSSL is old):
#   ca.pem ca-key.pem                    the test CA every "good" cert chains to
#   server.pem server-key.pem            SAN IP:127.0.0.1, DNS:localhost   (CA)
#   wrong-host.pem wrong-host-key.pem    SAN DNS:wrong-host.invalid only  (CA)
#   expired.pem expired-key.pem          SAN as server.pem, valid 2020-01-01..02 (CA)
#   client.pem client-key.pem            CN=chb-test-client, clientAuth    (CA)
#   other-ca.pem other-ca-key.pem        an unrelated CA ("wrong CA")
#   other-server.pem other-server-key.pem  SAN as server.pem, signed by other-ca
#   capath/                              ca.pem under its c_rehash name (for ca_certs=<dir>)
set -euo pipefail

OUT="${1:?usage: make_certs.sh OUT_DIR}"
mkdir -p "$OUT"
cd "$OUT"
command -v openssl >/dev/null || { echo "make_certs.sh: openssl CLI not found (apt-get install openssl)" >&2; exit 1; }

WORK="$(mktemp -d "$OUT/.work.XXXXXX")"
trap 'rm -rf -- "$WORK"' EXIT
export OPENSSL_CONF=/dev/null   # the system openssl.cnf must not change what we make

key() { openssl genrsa -out "$1" 2048 2>/dev/null; chmod 600 "$1"; }

make_ca() {  # name cn
    key "$1-key.pem"
    openssl req -x509 -new -key "$1-key.pem" -sha256 -days 3650 -subj "/O=clickhouse_backend tests/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -addext "subjectKeyIdentifier=hash" -out "$1.pem"
}

# Leaf cert through `openssl ca`, the one CLI that sets arbitrary validity dates
# (OpenSSL 3.0's `x509` cannot backdate notBefore, needed for the expired cert).
sign() {  # name ca cn san extended_key_usage [startdate enddate]
    local name="$1" ca="$2" cn="$3" san="$4" eku="$5" start="${6:-}" end="${7:-}"
    local db="$WORK/$ca-db"
    if [[ ! -d "$db" ]]; then
        mkdir -p "$db/new"
        : >"$db/index.txt"
        # a random serial per run: clients that cache certs by issuer+serial never mix runs up
        openssl rand -hex 16 >"$db/serial"
    fi
    cat >"$WORK/$name.cnf" <<EOF
[ca]
default_ca = ca_sect
[ca_sect]
database = $db/index.txt
new_certs_dir = $db/new
serial = $db/serial
certificate = $OUT/$ca.pem
private_key = $OUT/$ca-key.pem
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
organizationName = optional
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = $eku
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
${san:+subjectAltName = $san}
EOF
    key "$name-key.pem"
    openssl req -new -key "$name-key.pem" -subj "/O=clickhouse_backend tests/CN=$cn" -out "$WORK/$name.csr"
    local dates=(-days 3650)
    [[ -n "$start" ]] && dates=(-startdate "$start" -enddate "$end")
    openssl ca -batch -notext -config "$WORK/$name.cnf" -extensions ext "${dates[@]}" \
        -in "$WORK/$name.csr" -out "$name.pem" 2>"$WORK/$name.log" \
        || { cat "$WORK/$name.log" >&2; exit 1; }
}

GOOD_SAN="IP:127.0.0.1,DNS:localhost"
make_ca ca "chb test CA"
make_ca other-ca "chb unrelated CA"
sign server ca localhost "$GOOD_SAN" serverAuth
sign wrong-host ca wrong-host.invalid "DNS:wrong-host.invalid" serverAuth
sign expired ca localhost "$GOOD_SAN" serverAuth 20200101000000Z 20200102000000Z
sign client ca chb-test-client "" clientAuth
sign other-server other-ca localhost "$GOOD_SAN" serverAuth

mkdir -p capath
cp ca.pem "capath/$(openssl x509 -hash -noout -in ca.pem).0"

# Self-check: a broken PKI would make every failure test pass for the wrong reason.
openssl verify -CAfile ca.pem server.pem wrong-host.pem client.pem >/dev/null
openssl verify -CAfile other-ca.pem other-server.pem >/dev/null
openssl verify -CApath capath server.pem >/dev/null
if openssl verify -CAfile ca.pem expired.pem >/dev/null 2>&1; then
    echo "make_certs.sh: expired.pem verifies, expected it expired" >&2; exit 1
fi
if openssl verify -CAfile other-ca.pem server.pem >/dev/null 2>&1; then
    echo "make_certs.sh: server.pem verifies against other-ca.pem" >&2; exit 1
fi
chmod 644 ./*.pem
chmod 600 ./*-key.pem
