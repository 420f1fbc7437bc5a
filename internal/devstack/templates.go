package devstack

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
)

// The servers' configuration files, as templates: the Go code computes the
// values (addresses, folders, passwords), the files say what the servers
// get.
//
//go:embed templates
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"pemValue": pemValue,
}).ParseFS(templateFS, "templates/*"))

// render executes the template named name (a file under templates/).
func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("devstack: template %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// renderArgs executes an options template and returns its lines as
// arguments, skipping blank lines and # comments.
func renderArgs(name string, data any) ([]string, error) {
	b, err := render(name, data)
	if err != nil {
		return nil, err
	}
	var args []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		args = append(args, l)
	}
	return args, nil
}

// pemValue puts a PEM file on one line with \n escapes, as a Java
// properties value.
func pemValue(pem string) string {
	return strings.ReplaceAll(pem, "\n", `\n`)
}
