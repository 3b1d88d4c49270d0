// An audit record as a JSON object: one line of the audit spool, and one element of the answer
// to GET /admin/requests. Pure; safe on any thread.
//
// The members are named exactly as AuditRecord's fields and written in their order. Times are
// integers (Unix milliseconds), token counts and durations integers, costs numbers, flags
// booleans. ttft_us, request_body, response_body and client_request_id are omitted when absent.
#pragma once

#include <boost/json.hpp>

#include "base/result.hpp"
#include "storage/records.hpp"

namespace shepherd::storage {

// `record` as a JSON object. Every string comes out as valid UTF-8: a byte that is not part of
// a well-formed sequence (a body cut in the middle of a character) becomes U+FFFD, so any JSON
// parser reads the result. A cost that is not a finite number is written as 0.
boost::json::object to_json(const AuditRecord& record);

// The record `json` describes, as to_json writes it. request_id is required and must not be
// empty; every other member may be absent (it keeps AuditRecord's default), and an optional one
// may also be null. Integers written as whole doubles (12.0) are accepted. Members of other
// names are ignored. Errors: kBadRequest naming the member that is missing, of the wrong type or
// out of range (message "audit record: <member> ...").
base::Result<AuditRecord> audit_from_json(const boost::json::value& json);

}  // namespace shepherd::storage
