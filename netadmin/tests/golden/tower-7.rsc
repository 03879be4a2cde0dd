# Netily setup for router "tower-7" (RouterOS 7.17 or later)
# 1. VPN: import the certificates and key from the profile
/interface ovpn-client remove [find where name="netily-vpn"]
:do { /file remove "netily-vpn.ovpn" } on-error={}
/file add name="netily-vpn.ovpn" contents=<the ovpn profile>
:delay 1s
/interface ovpn-client import-ovpn-configuration file-name="netily-vpn.ovpn" ovpn-user="tower-7" ovpn-password="certificate-only" skip-cert-import=no
/file remove "netily-vpn.ovpn"
/interface ovpn-client set [find where connect-to="vpn.isp.example"] name="netily-vpn" cipher=aes256-gcm auth=sha256 verify-server-certificate=yes add-default-route=no route-nopull=yes use-peer-dns=no comment="netily"
# 2. RADIUS through the VPN, with CoA/Disconnect accepted on port 3799
/radius remove [find where comment="netily"]
/radius add address=10.8.0.1 secret="s3cret-7" service=ppp,hotspot src-address=10.8.0.2 timeout=3s require-message-auth=yes-for-request-resp comment="netily"
/radius incoming set accept=yes port=3799
# 3. PPP and Hotspot authenticate and account through RADIUS
/ppp aaa set use-radius=yes accounting=yes interim-update=10m
/ip hotspot profile set [find] use-radius=yes radius-accounting=yes radius-interim-update=10m
