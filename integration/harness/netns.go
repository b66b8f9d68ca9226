package harness

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NeedRoot fails the test in CI and skips it elsewhere unless it runs as
// root (why says what for), and fails it when unshare or setpriv
// (util-linux), which HostsWrap needs, is missing.
func NeedRoot(t *testing.T, why string) {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must run as root (%s)", why)
		}
		t.Skipf("needs root (%s)", why)
	}
	for _, tool := range []string{"unshare", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s (util-linux) is missing", tool)
		}
	}
}

// HostsWrap is a User.Wrap that runs a command in a private mount
// namespace whose /etc/hosts is hosts; with uid >= 0 the command runs as
// that user (the wrapper itself must start as root).
func HostsWrap(hosts string, uid int) []string {
	script := `mount --bind "$1" /etc/hosts && shift && exec "$@"`
	w := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", hosts}
	if uid >= 0 {
		w = append(w, "setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid), "--clear-groups")
	}
	return w
}

// Blackhole listens on ip:port with a backlog of 0 and fills the queue,
// so the kernel drops further connection attempts: they time out, as
// with a machine that is off. It returns a function that ends it (also
// done at the test's end).
func Blackhole(t *testing.T, ip string, port int) func() {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var once sync.Once
	end := func() {
		once.Do(func() {
			for _, c := range conns {
				c.Close()
			}
			syscall.Close(fd)
		})
	}
	t.Cleanup(end)
	// The address may have connections in TIME_WAIT (a killed node's).
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		t.Fatal(err)
	}
	sa := &syscall.SockaddrInet4{Port: port}
	copy(sa.Addr[:], net.ParseIP(ip).To4())
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, fmt.Sprint(port)), 300*time.Millisecond)
		if err != nil {
			break
		}
		conns = append(conns, c)
	}
	return end
}
