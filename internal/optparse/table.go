package optparse

// AllOptions returns every option in help order: the built-in --version
// (when Version is set) and -h/--help first, then Options. Generators of
// man pages and shell completions walk it, so that they describe exactly
// what Help prints.
func (p *Parser) AllOptions() []Option { return p.allOptions() }

// TakesValue reports whether the option takes a value (String or Int).
func (o *Option) TakesValue() bool { return o.takesValue() }
