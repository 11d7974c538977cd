package sanitise

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// YAML writes the survey as a complete rule set, header (comment lines)
// first: every table and column, transformed ones with why.
func (s Survey) YAML(header string) []byte {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(header, "\n"), "\n") {
		if l != "" {
			b.WriteString("# " + l + "\n")
		}
	}
	b.WriteString(s.section() + ":\n")
	for _, t := range s.Tables {
		b.WriteString(s.tableLines(t, "  ", "    "))
	}
	return []byte(b.String())
}

func (s Survey) section() string {
	if s.Documents {
		return "collections"
	}
	return "tables"
}

func (s Survey) tableLines(t TableSuggestion, indent, colIndent string) string {
	var b strings.Builder
	b.WriteString(indent + yamlKey(t.Table) + ":")
	if len(t.Columns) == 0 {
		// A table without columns has nothing to transform.
		b.WriteString(" {}\n")
		return b.String()
	}
	b.WriteString("\n")
	for _, c := range t.Columns {
		b.WriteString(columnLine(c, colIndent))
	}
	return b.String()
}

func columnLine(c Suggestion, indent string) string {
	l := indent + yamlKey(c.Column) + ": " + c.Rule
	if c.Why != "" {
		l += "  # " + strings.ReplaceAll(c.Why, "\n", " ")
	}
	return l + "\n"
}

// yamlKey quotes a name YAML would read as something else.
func yamlKey(s string) string {
	var probe map[string]any
	if err := yaml.Unmarshal([]byte(s+": x"), &probe); err == nil {
		if _, ok := probe[s]; ok && !strings.ContainsAny(s, "#:") {
			return s
		}
	}
	return fmt.Sprintf("%q", s)
}

// Update adds to an existing rule set (data, read from path) what the
// survey has and it lacks: missing columns at the end of their table,
// missing tables at the end of the section. Every line of data stays as it
// is. It returns the new file and what it added ("table.column", "table").
func (s Survey) Update(path string, data []byte) ([]byte, []string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("%s: not a rule set: %w", path, err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
		lines[len(lines)-1] += "\n"
	}
	var top *yaml.Node
	if len(doc.Content) == 1 {
		top = doc.Content[0]
	}
	if top != nil && top.Kind != yaml.MappingNode {
		return nil, nil, fmt.Errorf("%s: not a rule set: the top level must be a mapping (tables:, collections:, ...)", path)
	}
	var section *yaml.Node
	sectionAt, next := -1, len(lines) // the section's key line, the line after it ends (0-based)
	if top != nil {
		for i := 0; i+1 < len(top.Content); i += 2 {
			if top.Content[i].Value == s.section() {
				section, sectionAt = top.Content[i+1], top.Content[i].Line-1
				if i+2 < len(top.Content) {
					next = top.Content[i+2].Line - 1
				}
			}
		}
	}
	inserts := map[int][]string{} // after line index -> lines
	var added []string
	if section == nil || section.Kind != yaml.MappingNode || section.Style == yaml.FlowStyle {
		if section != nil && section.Kind == yaml.MappingNode && section.Style == yaml.FlowStyle {
			return nil, nil, fmt.Errorf("%s: %s: is written in flow style ({...}); write it as a block to let --update add to it", path, s.section())
		}
		if section != nil && section.Kind != yaml.ScalarNode {
			return nil, nil, fmt.Errorf("%s: %s: must map names to rules", path, s.section())
		}
		// No section (or an empty one): append it whole.
		var b strings.Builder
		if section == nil {
			b.WriteString(s.section() + ":\n")
		}
		for _, t := range s.Tables {
			b.WriteString(s.tableLines(t, "  ", "    "))
			added = append(added, t.Table)
		}
		at := len(lines) - 1
		if section != nil {
			at = sectionAt
		}
		inserts[at] = append(inserts[at], b.String())
		return apply(lines, inserts), added, nil
	}
	indent := strings.Repeat(" ", max(section.Content[0].Column-1, 0))
	end := lastContent(lines, sectionAt, next)
	for _, t := range s.Tables {
		body := lookupKey(section, t.Table)
		if body == nil {
			inserts[end] = append(inserts[end], s.tableLines(t, indent, indent+"  "))
			added = append(added, t.Table)
			continue
		}
		if body.Kind != yaml.MappingNode || len(body.Content) == 0 {
			continue // empty, or {}: nothing to add by column
		}
		if body.Style == yaml.FlowStyle {
			return nil, nil, fmt.Errorf("%s: %s is written in flow style ({...}); write it as a block to let --update add to it", path, t.Table)
		}
		colIndent := strings.Repeat(" ", max(body.Content[0].Column-1, 0))
		tableEnd := lastContent(lines, body.Content[0].Line-1, endOf(section, t.Table, next))
		for _, c := range t.Columns {
			if lookupKey(body, c.Column) != nil {
				continue
			}
			inserts[tableEnd] = append(inserts[tableEnd], columnLine(c, colIndent))
			added = append(added, t.Table+"."+c.Column)
		}
	}
	return apply(lines, inserts), added, nil
}

func lookupKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// endOf is the line index where the entry after key in m starts (next
// when key is the last).
func endOf(m *yaml.Node, key string, next int) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && i+2 < len(m.Content) {
			return m.Content[i+2].Line - 1
		}
	}
	return next
}

// lastContent is the last line in [from, before) that is neither blank
// nor a comment at the start of a line: where an entry's own lines end.
func lastContent(lines []string, from, before int) int {
	for i := min(before, len(lines)) - 1; i > from; i-- {
		t := strings.TrimSpace(lines[i])
		if t != "" && !strings.HasPrefix(t, "#") {
			return i
		}
	}
	return from
}

func apply(lines []string, inserts map[int][]string) []byte {
	var b strings.Builder
	for _, s := range inserts[-1] { // into an empty file
		b.WriteString(s)
	}
	for i, l := range lines {
		b.WriteString(l)
		for _, s := range inserts[i] {
			b.WriteString(s)
		}
	}
	return []byte(b.String())
}
