# Netily setup for router "tower-7" (RouterOS 7.17 or later)
# 1. VPN: import the certificates and key from the profile
/interface ovpn-client remove [find where name="netily-vpn"]
:do { /file remove "netily-vpn.ovpn" } on-error={}
/file add name="netily-vpn.ovpn" contents="# Netily management VPN profile for router tower-7\nclient\ndev tun\nproto udp\nremote vpn.isp.example 1194\nremote-cert-tls server\ncipher AES-256-GCM\nauth SHA256\ntls-version-min 1.2\n<ca>\n-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n</ca>\n<cert>\n-----BEGIN CERTIFICATE-----\nROUTER\n-----END CERTIFICATE-----\n</cert>\n<key>\n-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n</key>\n"
:delay 1s
/interface ovpn-client import-ovpn-configuration file-name="netily-vpn.ovpn" ovpn-user="tower-7" ovpn-password="certificate-only" skip-cert-import=no
/file remove "netily-vpn.ovpn"
/interface ovpn-client set [find where connect-to="vpn.isp.example"] name="netily-vpn" cipher=aes256-gcm auth=sha256 verify-server-certificate=yes add-default-route=no route-nopull=yes use-peer-dns=no comment="netily"
# 2. RADIUS through the VPN, with CoA/Disconnect accepted on port 3799
/radius remove [find where comment="netily"]
/radius add address=10.8.0.1 secret="s3cr\"et\$x" service=ppp,hotspot src-address=10.8.0.8 timeout=3s require-message-auth=yes-for-request-resp comment="netily"
/radius incoming set accept=yes port=3799
# 3. PPP and Hotspot authenticate and account through RADIUS
/ppp aaa set use-radius=yes accounting=yes interim-update=5m
/ip hotspot profile set [find] use-radius=yes radius-accounting=yes radius-interim-update=5m
