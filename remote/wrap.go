package remote

// Wrapper is a Store that adds behaviour to another Store (Retry, Logging,
// remote/faults). Unwrap returns the store it wraps, so that As can reach
// what only the innermost store implements.
type Wrapper interface {
	Store
	Unwrap() Store
}

// As finds the first store in s's chain of wrappers (s itself, then what
// each Wrapper's Unwrap returns) that is a T, like errors.As does for
// errors.
func As[T any](s Store) (T, bool) {
	for s != nil {
		if t, ok := s.(T); ok {
			return t, true
		}
		w, ok := s.(Wrapper)
		if !ok {
			break
		}
		s = w.Unwrap()
	}
	var zero T
	return zero, false
}

// Unwrap returns the wrapped store.
func (r *Retry) Unwrap() Store { return r.Store }

// Unwrap returns the wrapped store.
func (l *Logging) Unwrap() Store { return l.Store }
