package web

// Route is one route of a surface, as data. Each surface mounts its routes
// from the same list its Routes function returns, so that what is listed is
// exactly what is served: tests walk the list to cover every route, and
// cannot miss one that is added later.
type Route struct {
	// Method is the HTTP method; "" matches every method.
	Method string
	// Path is the net/http ServeMux path pattern, with {name} wildcards.
	Path string
	// OperationID names the operation. On the management routes it is also
	// the ACL permission the route needs.
	OperationID string
	// Body describes the JSON object the route reads as its body (Type
	// Object); nil when it reads none.
	Body *Field
	// BodyOptional says the body may be left out altogether.
	BodyOptional bool
	// MaxBody caps the body, in bytes; 0 means MaxBodyBytes. Only batches
	// take more.
	MaxBody int64
	// Query lists the query parameters the route reads.
	Query []Field
}

// Pattern is the route's ServeMux pattern: method and path.
func (r Route) Pattern() string {
	if r.Method == "" {
		return r.Path
	}
	return r.Method + " " + r.Path
}

// Type is a JSON type, or what a query parameter's text must be.
type Type string

// The types of Field.
const (
	String  Type = "string"
	Integer Type = "integer" // a JSON number, or query text, that is a whole number
	Number  Type = "number"
	Boolean Type = "boolean"
	Object  Type = "object"
	Array   Type = "array"
)

// Field describes a value a route reads: a body, a member of an object, the
// items of an array, or a query parameter.
type Field struct {
	// Name is the member's or the parameter's name; "" for a body or items.
	Name string
	Type Type
	// Nullable says JSON null is a value it takes (meaning "unset" or
	// "none"), rather than a wrong type.
	Nullable bool
	// Enum, when set, lists the only strings it takes.
	Enum []string
	// Format names a syntax a string must follow, such as "date-time"
	// (RFC 3339).
	Format string
	// Members, for an object, are the members it reads. Nil with Strict
	// unset is a free-form object, such as metadata.
	Members []Field
	// Strict says members that are not listed (nor read-only) are refused;
	// otherwise they are ignored.
	Strict bool
	// Items, for an array, describes its items.
	Items *Field
	// Repeatable says a query parameter may be given more than once.
	Repeatable bool
}

// Names returns the names of fields, in order.
func Names(fields []Field) []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.Name
	}
	return names
}
