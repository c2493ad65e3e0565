// Command signal is the tabshard signaling server: peers (native nodes,
// browser tabs, clients) join swarms over WebSocket at /api/signal, and the
// swarm state is served as JSON at /api/swarm.
//
//	signal -listen :8443 -tls-cert cert.pem -tls-key key.pem \
//	       -swarms-file swarms.txt -allow-origin https://tabs.example.org
//
// swarms.txt holds one "name token" pair per line (# starts a comment);
// prefer it to -swarm name=token, which other users of the machine can read
// in the process list.
//
// The server runs natively only (it is not built for GOOS=js).
package main
