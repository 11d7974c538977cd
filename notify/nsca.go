package notify

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// NSCA sends results with send_nsca, as the original did.
type NSCA struct {
	// Binary is send_nsca's path; default "send_nsca" on $PATH.
	Binary string
	Server string
	Port   int    // 0: send_nsca's default (5667)
	Config string // send_nsca.cfg (password, encryption); "" for its default
}

// Send runs send_nsca once; retries are the activity's.
func (n *NSCA) Send(ctx context.Context, r Result) error {
	bin := n.Binary
	if bin == "" {
		bin = "send_nsca"
	}
	args := []string{"-H", n.Server, "-d", "\t"}
	if n.Port != 0 {
		args = append(args, "-p", strconv.Itoa(n.Port))
	}
	if n.Config != "" {
		args = append(args, "-c", n.Config)
	}
	clean := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	line := fmt.Sprintf("%s\t%s\t%d\t%s\n", clean(r.Host), clean(r.Service), r.Status, clean(r.Output))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(line)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("send_nsca to %s: %w: %s (is nsca-client installed and the server reachable?)", n.Server, err, strings.TrimSpace(out.String()))
	}
	return nil
}
