package ocpp

import (
	"strings"

	"github.com/lorenzodonini/ocpp-go/ocpp"
	"github.com/lorenzodonini/ocpp-go/ocppj"
	"github.com/lorenzodonini/ocpp-go/ws"
)

// callErrorHook corrects the error codes the library picks for bad frames,
// so chargers get the code their spec defines:
//   - an action no loaded profile knows is NotImplemented ("not known"),
//     not NotSupported ("known, but not supported");
//   - an enum or range violation is PropertyConstraintViolation, not
//     GenericError;
//
// OCPP 1.6 JSON (4.2.3) spells "OccurenceConstraintViolation"; the library's
// validator only lets the 2.0.1 spelling out, so 1.6 chargers get that one.
func (s *Service) callErrorHook() ocppj.InvalidMessageHook {
	return func(c ws.Channel, err *ocpp.Error, raw string, _ []interface{}) *ocpp.Error {
		out := *err
		switch {
		case err.Code == ocppj.NotSupported && strings.HasPrefix(err.Description, "Unsupported feature"):
			out.Code = ocppj.NotImplemented
		case err.Code == ocppj.GenericError && strings.Contains(err.Description, "Error:Field validation"):
			out.Code = ocppj.PropertyConstraintViolation
		}
		return &out
	}
}
