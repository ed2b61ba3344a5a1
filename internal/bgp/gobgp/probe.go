package gobgp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	gbgp "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"golang.org/x/sys/unix"

	"github.com/heraldlb/herald/internal/bgp"
)

// Probe opens a TCP connection to a peer, exchanges OPEN messages and closes with a Cease, to
// tell why a session does not come up: connection refused, timed out (a firewall, or an MD5
// password on one side only), no route, the AS and hold time the router announces, or the
// NOTIFICATION it answers our OPEN with. Only probe peers whose session is down: a second
// connection from the same address can make the router drop a working session.
func Probe(ctx context.Context, req bgp.ProbeRequest) bgp.ProbeResult {
	res := bgp.ProbeResult{Peer: netip.AddrPortFrom(req.Peer, req.Port).String()}
	d := net.Dialer{Timeout: 3 * time.Second}
	if req.Local.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: req.Local.AsSlice()}
	}
	if req.Password != "" {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) { serr = setMD5(int(fd), req.Peer, req.Password) })
			return errors.Join(err, serr)
		}
	}
	conn, err := d.DialContext(ctx, "tcp", res.Peer)
	if err != nil {
		res.Connect = classify(err)
		res.Detail = err.Error()
		return res
	}
	defer conn.Close()
	res.Connect = bgp.ConnectOK
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))

	myAS := uint16(gbgp.AS_TRANS)
	if req.LocalASN <= 0xFFFF {
		myAS = uint16(req.LocalASN)
	}
	caps := []gbgp.ParameterCapabilityInterface{gbgp.NewCapFourOctetASNumber(req.LocalASN), gbgp.NewCapMultiProtocol(gbgp.RF_IPv4_UC)}
	open, err := gbgp.NewBGPOpenMessage(myAS, 90, req.RouterID, []gbgp.OptionParameterInterface{gbgp.NewOptionParameterCapability(caps)})
	if err == nil {
		var b []byte
		if b, err = open.Serialize(); err == nil {
			_, err = conn.Write(b)
		}
	}
	if err != nil {
		res.Detail = "sending OPEN: " + err.Error()
		return res
	}
	for range 3 { // OPEN, then KEEPALIVE (accepted) or NOTIFICATION (refused)
		m, err := readMessage(conn)
		if err != nil {
			if res.PeerASN == 0 {
				res.Detail = "the router closed the connection without an OPEN: " + err.Error()
			}
			break
		}
		switch body := m.Body.(type) {
		case *gbgp.BGPOpen:
			res.PeerASN, res.HoldTime, res.PeerRouterID = uint32(body.MyAS), body.HoldTime, body.ID
			for _, p := range body.OptParams {
				if c, ok := p.(*gbgp.OptionParameterCapability); ok {
					for _, cap := range c.Capability {
						if a, ok := cap.(*gbgp.CapFourOctetASNumber); ok {
							res.PeerASN = a.CapValue
						}
					}
				}
			}
		case *gbgp.BGPNotification:
			res.Notification = gbgp.NewNotificationErrorCode(body.ErrorCode, body.ErrorSubcode).String()
		case *gbgp.BGPKeepAlive:
			res.Accepted = true
		}
		if res.Notification != "" || res.Accepted {
			break
		}
	}
	if !res.Accepted && res.Notification == "" {
		return res
	}
	// Leave politely: Cease, administrative shutdown.
	if b, err := gbgp.NewBGPNotificationMessage(gbgp.BGP_ERROR_CEASE, gbgp.BGP_ERROR_SUB_ADMINISTRATIVE_SHUTDOWN, nil).Serialize(); err == nil {
		_, _ = conn.Write(b)
	}
	return res
}

func readMessage(r io.Reader) (*gbgp.BGPMessage, error) {
	hdr := make([]byte, gbgp.BGP_HEADER_LENGTH)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	if n < gbgp.BGP_HEADER_LENGTH || n > 65535 {
		return nil, fmt.Errorf("bad message length %d", n)
	}
	buf := make([]byte, n)
	copy(buf, hdr)
	if _, err := io.ReadFull(r, buf[gbgp.BGP_HEADER_LENGTH:]); err != nil {
		return nil, err
	}
	return gbgp.ParseBGPMessage(buf)
}

func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return bgp.ConnectRefused
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return bgp.ConnectNoRoute
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return bgp.ConnectTimeout
	}
	return bgp.ConnectError
}

// setMD5 sets the TCP MD5 signature key (RFC 2385) for the peer on a socket.
func setMD5(fd int, peer netip.Addr, password string) error {
	sig := unix.TCPMD5Sig{Keylen: uint16(len(password))}
	copy(sig.Key[:], password)
	if peer.Is4() {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sig.Addr))
		sa.Family = unix.AF_INET
		sa.Addr = peer.As4()
	} else {
		sa := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sig.Addr))
		sa.Family = unix.AF_INET6
		sa.Addr = peer.As16()
	}
	return unix.SetsockoptTCPMD5Sig(fd, unix.IPPROTO_TCP, unix.TCP_MD5SIG, &sig)
}
