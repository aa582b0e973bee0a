package service

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/confide-dev/confide/service/skr"
)

// Problem is an RFC 9457 problem details body (application/problem+json).
type Problem struct {
	// Type is a URI naming the kind of problem.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Errors lists every failed policy rule for policy denials.
	Errors []string `json:"errors,omitempty"`
}

const problemBase = "https://confide.dev/problems/"

// problemFor maps an error to the problem returned to the client. The
// detail is the error text, which never contains secrets; internal causes
// become a generic 500.
func problemFor(err error) Problem {
	var de *DeniedError
	switch {
	case errors.As(err, &de):
		return Problem{Type: problemBase + "policy-denied", Title: "Policy denied the request", Status: http.StatusForbidden, Detail: err.Error(), Errors: de.Reasons}
	case errors.Is(err, ErrTooLarge):
		return Problem{Type: problemBase + "too-large", Title: "Request body too large", Status: http.StatusRequestEntityTooLarge, Detail: err.Error()}
	case errors.Is(err, ErrAPIVersion):
		return Problem{Type: problemBase + "api-version", Title: "Unsupported api-version", Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, ErrUnauthorized):
		return Problem{Type: problemBase + "unauthorized", Title: "Admin credential missing or wrong", Status: http.StatusUnauthorized, Detail: err.Error()}
	case errors.Is(err, ErrNotFound):
		return Problem{Type: problemBase + "not-found", Title: "Not found", Status: http.StatusNotFound, Detail: err.Error()}
	case errors.Is(err, ErrNonce):
		return Problem{Type: problemBase + "nonce", Title: "Nonce is unknown, used or expired", Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, ErrRuntimeData):
		return Problem{Type: problemBase + "runtime-data", Title: "Runtime data does not match the report data", Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, ErrEvidence):
		return Problem{Type: problemBase + "evidence", Title: "Evidence did not verify", Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, ErrToken):
		return Problem{Type: problemBase + "token", Title: "Token did not verify", Status: http.StatusUnauthorized, Detail: err.Error()}
	case errors.Is(err, ErrPolicy), errors.Is(err, skr.ErrPolicy):
		return Problem{Type: problemBase + "invalid-policy", Title: "Policy does not parse", Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, skr.ErrTargetKey):
		return Problem{Type: problemBase + "target-key", Title: "Token names no usable encryption key", Status: http.StatusBadRequest, Detail: err.Error()}
	case errors.Is(err, ErrBadRequest):
		return Problem{Type: problemBase + "bad-request", Title: "Bad request", Status: http.StatusBadRequest, Detail: err.Error()}
	}
	return Problem{Type: problemBase + "internal", Title: "Internal error", Status: http.StatusInternalServerError, Detail: "service: internal error (see the service log)"}
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	json.NewEncoder(w).Encode(p)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
