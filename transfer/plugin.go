package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/vaultcred/gettoken/internal/classad"
)

// Version is the plugin's PluginVersion.
const Version = "1.0"

// MaxInputSize bounds the -infile the plugin reads.
const MaxInputSize = 64 << 20

// CapabilityAd is the `-classad` answer: old syntax, one attribute per
// line, with the methods cfg serves and any <method>_proxy from env.
func CapabilityAd(cfg Config, env func(string) string) ([]byte, error) {
	a := classad.New()
	a.SetBool("MultipleFileSupport", true)
	a.SetString("PluginVersion", Version)
	a.SetString("PluginType", "FileTransfer")
	a.SetInt("ProtocolVersion", 4)
	methods := cfg.Methods()
	a.SetString("SupportedMethods", strings.Join(methods, ","))
	for _, m := range methods {
		if v := env(m + "_proxy"); v != "" {
			a.SetString(m+"_proxy", v)
		}
	}
	return a.MarshalOld()
}

// Job is one file ad of the input.
type Job struct {
	URL, LocalFile string
	Bad            string // why the ad cannot be acted on, if set
}

// ReadJobs parses the -infile contents: every ad with a Url or a
// LocalFileName is a file ad (both must be strings); other ads (protocol
// 4's PluginData ads) carry no transfer.
func ReadJobs(data []byte) ([]Job, error) {
	if len(data) > MaxInputSize {
		return nil, fmt.Errorf("input file larger than %d bytes", MaxInputSize)
	}
	ads, err := classad.ParseNew(data)
	if err != nil {
		return nil, err
	}
	var jobs []Job
	for _, a := range ads {
		uv, hasU := a.Get("Url")
		lv, hasL := a.Get("LocalFileName")
		if !hasU && !hasL {
			continue
		}
		u, uok := uv.StringValue()
		l, lok := lv.StringValue()
		j := Job{URL: u, LocalFile: l}
		switch {
		case !uok:
			j.Bad = "the file ad has no string Url"
		case !lok || l == "":
			j.Bad = "the file ad has no string LocalFileName"
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// RunAll transfers every job with at most cfg.Parallel at once and
// returns the results in input order.
func (c *Client) RunAll(ctx context.Context, jobs []Job, upload bool) []*Result {
	res := make([]*Result, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	workers := min(c.cfg.Parallel, len(jobs))
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				j := jobs[i]
				if j.Bad != "" {
					res[i] = &Result{URL: j.URL, LocalFile: j.LocalFile, Upload: upload,
						Failures: []*Failure{{Type: "Parameter", Code: 3, Msg: j.Bad}}}
					continue
				}
				res[i] = c.Transfer(ctx, j.URL, j.LocalFile, upload)
				c.report(res[i])
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return res
}

func (c *Client) report(r *Result) {
	dir := "download"
	if r.Upload {
		dir = "upload"
	}
	u := r.URL
	if t, err := c.cfg.Resolve(r.URL); err == nil {
		u = Redacted(t.URL)
	}
	secs := r.End.Sub(r.Start).Seconds()
	if r.OK {
		c.logf("%s %s %s: %d bytes in %.3fs", dir, u, r.LocalFile, r.FileBytes, secs)
	} else {
		c.logf("%s %s %s: FAILED: %s", dir, u, r.LocalFile, r.Err())
	}
}

// ResultAd is the result ad HTCondor expects for r. TransferErrorData
// (one entry per failed attempt) is present on every failure.
func ResultAd(r *Result) *classad.Ad {
	a := classad.New()
	a.SetBool("TransferSuccess", r.OK)
	if !r.OK {
		a.SetString("TransferError", clean(r.Err()))
	}
	a.SetString("TransferFileName", r.LocalFile)
	a.SetString("TransferUrl", r.URL)
	if r.Upload {
		a.SetString("TransferType", "upload")
	} else {
		a.SetString("TransferType", "download")
	}
	if r.Method != "" {
		a.SetString("TransferProtocol", r.Method)
	}
	a.SetInt("TransferFileBytes", r.FileBytes)
	a.SetInt("TransferTotalBytes", r.TotalBytes)
	if !r.Start.IsZero() {
		a.SetInt("TransferStartTime", r.Start.Unix())
		a.SetInt("TransferEndTime", r.End.Unix())
		a.SetReal("ConnectionTimeSeconds", r.End.Sub(r.Start).Seconds())
	}
	dev := classad.New()
	if r.Host != "" {
		dev.SetString("TransferHostName", r.Host)
	}
	if r.Status != 0 {
		dev.SetInt("TransferHTTPStatusCode", int64(r.Status))
	}
	dev.SetInt("TransferTries", int64(r.Tries))
	if r.Checksum != "" {
		dev.SetString("TransferChecksum", r.Checksum)
	}
	if r.Resumed {
		dev.SetBool("TransferResumed", true)
	}
	a.Set("DeveloperData", classad.AdValue(dev))
	if !r.OK {
		var list []classad.Value
		for _, f := range r.Failures {
			list = append(list, classad.AdValue(errorDataAd(f)))
		}
		if len(list) == 0 {
			list = append(list, classad.AdValue(errorDataAd(&Failure{Code: 1, Msg: "transfer failed"})))
		}
		a.Set("TransferErrorData", classad.List(list...))
	}
	return a
}

func errorDataAd(f *Failure) *classad.Ad {
	e := classad.New()
	if f.Type != "" {
		e.SetString("ErrorType", f.Type)
	}
	e.SetInt("ErrorCode", int64(f.Code))
	e.SetString("ErrorString", clean(f.Msg))
	switch {
	case f.HasRetryAfter:
		e.SetInt("Retryable", int64(f.RetryAfter.Seconds()+0.999))
	case !f.Retry:
		e.SetInt("Retryable", -1)
	default:
		e.SetInt("Retryable", 0)
	}
	if f.FailureType != "" {
		e.SetString("FailureType", f.FailureType)
	}
	switch f.Type {
	case "Parameter":
		e.SetString("PluginVersion", Version)
		e.SetBool("PluginLaunched", true)
	case "Resolution":
		e.SetString("FailedName", f.FailedName)
	case "Contact", "Authorization", "Specification", "Transfer":
		if f.Server != "" {
			e.SetString("FailedServer", f.Server)
		}
	}
	if f.Type == "Authorization" {
		e.SetBool("ShouldRefresh", f.ShouldRefresh)
	}
	return e
}

// clean keeps a message writable as a ClassAd string (no NUL).
func clean(s string) string { return strings.ReplaceAll(s, "\x00", " ") }

// WriteResults writes the result ads into path from offset 0 without
// truncating it: the starter pre-allocates the file so that results can
// be written when the disk is full. Old content beyond the new results is
// overwritten with spaces, which the starter's reader ignores.
func WriteResults(path string, ads []*classad.Ad, stdout io.Writer) error {
	data, err := classad.MarshalNewList(ads)
	if err != nil {
		return err
	}
	if path == "" {
		_, err := stdout.Write(data)
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return err
	}
	if fi, err := f.Stat(); err == nil && fi.Size() > int64(len(data)) {
		pad := make([]byte, fi.Size()-int64(len(data)))
		for i := range pad {
			pad[i] = ' '
		}
		if _, err := f.WriteAt(pad, int64(len(data))); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// Options are the command-line settings of a transfer.
type Options struct {
	InFile, OutFile string
	Upload, Debug   bool
}

// Run performs the transfers of an -infile and writes the results. It
// returns whether every file succeeded and an error for problems that
// stopped it from reporting per file.
func Run(ctx context.Context, o Options, env func(string) string, stdout io.Writer, logf func(string, ...any)) (bool, error) {
	cfg, cfgErr := LoadConfig(env)
	data, err := readInput(o.InFile)
	if err != nil {
		return false, writeFatal(o.OutFile, stdout, "cannot read the plugin input file: "+err.Error())
	}
	jobs, err := ReadJobs(data)
	if err != nil {
		return false, writeFatal(o.OutFile, stdout, "cannot parse the plugin input file: "+err.Error())
	}
	var results []*Result
	if cfgErr != nil {
		for _, j := range jobs {
			results = append(results, &Result{URL: j.URL, LocalFile: j.LocalFile, Upload: o.Upload,
				Failures: []*Failure{{Type: "Parameter", Code: 3, Msg: "plugin configuration: " + cfgErr.Error()}}})
		}
	} else {
		c, err := NewClient(cfg, env, logf, Version)
		if err != nil {
			return false, writeFatal(o.OutFile, stdout, err.Error())
		}
		c.debug = o.Debug
		defer c.Close()
		results = c.RunAll(ctx, jobs, o.Upload)
	}
	all := true
	ads := make([]*classad.Ad, len(results))
	for i, r := range results {
		ads[i] = ResultAd(r)
		all = all && r.OK
	}
	if err := WriteResults(o.OutFile, ads, stdout); err != nil {
		return false, fmt.Errorf("writing the results: %w", err)
	}
	return all, nil
}

func readInput(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxInputSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxInputSize {
		return nil, errors.New("input file too large")
	}
	return b, nil
}

// writeFatal writes one failure ad naming the problem, so the job's hold
// reason says what went wrong instead of "no valid classads".
func writeFatal(out string, stdout io.Writer, msg string) error {
	r := &Result{Failures: []*Failure{{Type: "Parameter", Code: 3, Msg: msg}}}
	if werr := WriteResults(out, []*classad.Ad{ResultAd(r)}, stdout); werr != nil {
		return fmt.Errorf("%s; writing the results: %w", msg, werr)
	}
	return errors.New(msg)
}
