#include "storage/postgres/postgres_connection.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstring>

#include "storage/store.hpp"

namespace shepherd::storage::postgres {

namespace {

using base::ErrorCode;

// libpq prints server notices ("relation already exists, skipping") to stderr by default.
void ignore_notice(void*, const char*) {}

std::string trimmed(const char* text) {
  std::string s = text ? text : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

void ResultDeleter::operator()(pg_result* r) const { PQclear(r); }

void Params::null() {
  values_.emplace_back();
  nulls_.push_back(true);
}

void Params::int64(std::int64_t v) {
  char buf[24];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  values_.emplace_back(buf, end);
  nulls_.push_back(false);
}

void Params::real(double v) {
  char buf[32];
  const auto end = std::to_chars(buf, buf + sizeof buf, v).ptr;
  values_.emplace_back(buf, end);
  nulls_.push_back(false);
}

void Params::boolean(bool v) {
  values_.emplace_back(v ? "t" : "f");
  nulls_.push_back(false);
}

void Params::text(std::string_view v) {
  values_.emplace_back(v);
  nulls_.push_back(false);
}

std::vector<const char*> Params::pointers() const {
  std::vector<const char*> p(values_.size());
  for (std::size_t i = 0; i < values_.size(); ++i) p[i] = nulls_[i] ? nullptr : values_[i].c_str();
  return p;
}

bool Reader::is_null(int col) { return PQgetisnull(r_, row_, col) != 0; }

std::int64_t Reader::int64(int col) {
  const char* v = PQgetvalue(r_, row_, col);
  std::int64_t out = 0;
  const auto [end, ec] = std::from_chars(v, v + PQgetlength(r_, row_, col), out);
  if (ec != std::errc() || end != v + PQgetlength(r_, row_, col)) ok_ = false;
  return out;
}

double Reader::real(int col) {
  const char* v = PQgetvalue(r_, row_, col);
  const int n = PQgetlength(r_, row_, col);
  double out = 0;
  const auto [end, ec] = std::from_chars(v, v + n, out);
  if (ec != std::errc() || end != v + n) ok_ = false;
  return out;
}

bool Reader::boolean(int col) {
  const char* v = PQgetvalue(r_, row_, col);
  if (v[0] != 't' && v[0] != 'f') ok_ = false;
  return v[0] == 't';
}

std::string Reader::text(int col) {
  return std::string(PQgetvalue(r_, row_, col),
                     static_cast<std::size_t>(PQgetlength(r_, row_, col)));
}

base::Result<std::unique_ptr<Connection>> Connection::connect(const std::string& url) {
  const std::string redacted = redact_url(url);
  // libpq's own parse, to learn the password (and nothing of its message, which may quote it).
  char* parse_error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &parse_error);
  if (!options) {
    PQfreemem(parse_error);
    return base::make_error(ErrorCode::kBadRequest,
                            "storage: cannot read the PostgreSQL URL " + redacted);
  }
  std::string password;
  for (auto* o = options; o->keyword; ++o) {
    if (std::strcmp(o->keyword, "password") == 0 && o->val) password = o->val;
  }
  PQconninfoFree(options);

  // Keywords are applied in order and the URL (expanded from dbname) comes last, so that what
  // it sets wins over these defaults.
  const std::string timeout = std::to_string(kConnectTimeoutSeconds);
  const char* keywords[] = {"connect_timeout", "client_encoding", "fallback_application_name",
                            "dbname", nullptr};
  const char* values[] = {timeout.c_str(), "UTF8", "shepherd", url.c_str(), nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 1);
  if (!conn) return base::make_error(ErrorCode::kUnavailable, "storage: out of memory");
  std::unique_ptr<Connection> c(new Connection(conn, redacted, std::move(password)));
  if (PQstatus(conn) != CONNECTION_OK) {
    auto e = c->error(nullptr, "cannot connect");
    e.code = ErrorCode::kUnavailable;
    e.retryable = true;
    return e;
  }
  if (auto s = c->set_up_session(); !s) return std::move(s).error();
  return c;
}

Connection::Connection(pg_conn* conn, std::string redacted_url, std::string password)
    : conn_(conn), redacted_url_(std::move(redacted_url)), password_(std::move(password)) {
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
}

Connection::~Connection() { PQfinish(conn_); }

base::Status Connection::set_up_session() {
  // Doubles are read back with from_chars: ask for the shortest exact form whatever the server's
  // default (PostgreSQL 12 and later give it for any value above 0).
  auto r = exec("SET extra_float_digits = 3");
  if (!r) return std::move(r).error();
  return base::Ok{};
}

base::Status Connection::ready() {
  if (PQstatus(conn_) == CONNECTION_OK) {
    // A transaction left open by an interrupted call would swallow the next statements.
    if (in_transaction()) PgResult discard(PQexec(conn_, "ROLLBACK"));
    return base::Ok{};
  }
  PQreset(conn_);
  prepared_.clear();
  if (PQstatus(conn_) != CONNECTION_OK) {
    auto e = error(nullptr, "cannot reconnect");
    e.code = ErrorCode::kUnavailable;
    e.retryable = true;
    return e;
  }
  return set_up_session();
}

base::Result<PgResult> Connection::exec(const std::string& sql) {
  PgResult r(PQexec(conn_, sql.c_str()));
  const auto status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return error(r.get(), "cannot run " + sql.substr(0, 60));
  }
  return r;
}

base::Result<PgResult> Connection::run(const std::string& name, const std::string& sql,
                                       const Params& params) {
  if (!prepared_.contains(name)) {
    PgResult p(PQprepare(conn_, name.c_str(), sql.c_str(), params.size(), nullptr));
    if (PQresultStatus(p.get()) != PGRES_COMMAND_OK) {
      return error(p.get(), "cannot prepare a statement");
    }
    prepared_.insert(name);
  }
  const auto values = params.pointers();
  PgResult r(
      PQexecPrepared(conn_, name.c_str(), params.size(), values.data(), nullptr, nullptr, 0));
  const auto status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return error(r.get(), "statement failed");
  }
  return r;
}

base::Result<PgResult> Connection::run(sql::Statement s, const Params& params) {
  const auto name = sql::statement_name('s', static_cast<std::size_t>(s));
  if (prepared_.contains(name)) return run(name, {}, params);
  return run(name, sql::statement_sql(s), params);
}

bool Connection::in_transaction() const {
  return PQstatus(conn_) == CONNECTION_OK && PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

base::Error Connection::error(const pg_result* r, const std::string& what) const {
  const std::string state = sqlstate(r);
  const std::string constraint = constraint_name(r);
  std::string text = trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
  if (text.empty()) text = trimmed(PQerrorMessage(conn_));
  auto e = base::make_error(
      ErrorCode::kInternal,
      scrub("storage: " + what + " (PostgreSQL at " + redacted_url_ + "): " + text),
      state.empty()
          ? std::string()
          : "sqlstate " + state + (constraint.empty() ? "" : ", constraint " + constraint));
  const std::string_view klass = std::string_view(state).substr(0, 2);
  if (PQstatus(conn_) != CONNECTION_OK) {
    e.code = ErrorCode::kUnavailable;
    e.retryable = true;
    e.message = scrub("storage: lost the connection to PostgreSQL at " + redacted_url_ + " (" +
                      what + "): " + text);
  } else if (state == "23505") {
    e.code = ErrorCode::kConflict;
  } else if (state == "40001" || state == "40P01" || klass == "08" || klass == "53" ||
             klass == "57") {
    // Serialisation failure, deadlock, connection exception, insufficient resources (disk
    // full, too many connections), operator intervention (shutdown, cancel).
    e.code = ErrorCode::kUnavailable;
    e.retryable = true;
  }
  return e;
}

std::string Connection::scrub(std::string text) const {
  if (password_.empty()) return text;
  std::size_t pos = 0;
  while ((pos = text.find(password_, pos)) != std::string::npos) {
    text.replace(pos, password_.size(), "***");
    pos += 3;
  }
  return text;
}

Transaction::~Transaction() {
  if (open_ && c_.in_transaction()) {
    // The result does not matter: a lost connection ends the transaction too.
    auto r = c_.exec("ROLLBACK");
    (void)r;
  }
}

base::Status Transaction::begin() {
  auto r = c_.exec("BEGIN");
  if (!r) return std::move(r).error();
  open_ = true;
  return base::Ok{};
}

base::Status Transaction::commit() {
  auto r = c_.exec("COMMIT");
  if (!r) return std::move(r).error();
  open_ = false;
  // COMMIT of a transaction that failed answers ROLLBACK, not an error.
  if (std::strcmp(PQcmdStatus(r->get()), "COMMIT") != 0) {
    return c_.error(nullptr, "the transaction was rolled back");
  }
  return base::Ok{};
}

std::string sqlstate(const pg_result* r) {
  const char* s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  return s ? s : "";
}

std::string constraint_name(const pg_result* r) {
  const char* s = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : nullptr;
  return s ? s : "";
}

}  // namespace shepherd::storage::postgres
