"""What the light-oauth2 services of LO2 log: request flows, error test cases, Java stack traces.

Logger names are shortened the way Logback's ``%logger{36}`` does it (:func:`abbrev`), so
``com.networknt.oauth.cache.UserMapStore`` prints as ``c.networknt.oauth.cache.UserMapStore`` and
``com.networknt.oauth.token.handler.Oauth2TokenPostHandler`` as ``c.n.o.t.h.Oauth2TokenPostHandler``,
as in the real files. Message placeholders (``{uuid}``, ``{code}``, ``{hex8}``, ``{basic}``,
``{page}``) are filled per request.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SERVICES", "SERVICE_WEIGHT", "Flow", "ErrorCase", "FLOWS", "ERROR_CASES", "INIT_LINES",
           "HANDLER_CHAIN", "abbrev"]

SERVICES = ("client", "code", "key", "refresh-token", "service", "token", "user")
#: Relative traffic of each service (token is the busiest in LO2).
SERVICE_WEIGHT = {"token": 1.0, "code": 0.6, "client": 0.4, "refresh-token": 0.3, "user": 0.3,
                  "service": 0.25, "key": 0.15}

_PKG = "com.networknt.oauth"
_CACHE = f"{_PKG}.cache"


def abbrev(fqcn: str, width: int = 36) -> str:
    """Shorten a class name like Logback's ``%logger{width}``: package parts become initials, left first.

    Examples
    --------
    >>> abbrev("com.networknt.openapi.ApiNormalisedPath")
    'c.n.openapi.ApiNormalisedPath'
    >>> abbrev("com.networknt.oauth.cache.UserMapStore")
    'c.networknt.oauth.cache.UserMapStore'
    """
    if len(fqcn) <= width:
        return fqcn
    parts = fqcn.split(".")
    for i in range(len(parts) - 1):
        parts[i] = parts[i][0]
        if len(".".join(parts)) <= width:
            break
    return ".".join(parts)


@dataclass(frozen=True)
class Flow:
    """One kind of normal request: weight, HTTP method and path, handler lines, map-store calls."""

    weight: float
    method: str
    path: str
    validate: tuple[str, ...]              # TypeValidator arguments, e.g. ("{basic}", "authorization")
    lines: tuple[tuple[str, str, str, str], ...]  # (level, fqcn, method, message)
    stores: tuple[tuple[str, str, str], ...] = ()  # (map store class, op, key placeholder)
    jwt: bool = False                        # JwtIssuer + Config lines (the token service)


@dataclass(frozen=True)
class ErrorCase:
    """An LO2 error test case: the service it breaks and what the failing request logs."""

    service: str
    method: str
    path: str
    handler: str
    status: int
    code: str
    message: str
    description: str
    style: str = "api"       # "api": ApiException + trace; "validation": Status line; "db": store trace


def _h(service: str, name: str) -> str:
    short = {"refresh-token": "refresh.token"}.get(service, service)
    return f"{_PKG}.{short}.handler.{name}"


_TOKEN = _h("token", "Oauth2TokenPostHandler")
_RURI = "redirectUri = http://localhost:8080/authorization"

FLOWS: dict[str, tuple[Flow, ...]] = {
    "token": (
        Flow(0.7, "POST", "/oauth2/token", ("{basic}", "authorization"),
             (("DEBUG", _TOKEN, "handleClientCredentials", "scope = null"),), jwt=True),
        Flow(0.15, "POST", "/oauth2/token", ("{basic}", "authorization"),
             (("DEBUG", _TOKEN, "handleAuthorizationCode", "code = {code} " + _RURI),
              ("DEBUG", _TOKEN, "handleAuthorizationCode", "variable from codeMap cache userId = admin " + _RURI)),
             (("RefreshTokenMapStore", "store", "{uuid}"),), jwt=True),
        Flow(0.15, "POST", "/oauth2/token", ("{basic}", "authorization"),
             (("DEBUG", _TOKEN, "handleRefreshToken", "refreshToken = {uuid} scope = null"),),
             (("RefreshTokenMapStore", "load", "{uuid}"), ("RefreshTokenMapStore", "delete", "{uuid}"),
              ("RefreshTokenMapStore", "store", "{uuid2}")), jwt=True),
    ),
    "code": (
        Flow(0.6, "GET", "/oauth2/code", ("{uuid}", "client_id"),
             (("DEBUG", _h("code", "Oauth2CodeGetHandler"), "handleRequest", "client_id = {uuid} response_type = code"),
              ("DEBUG", _h("code", "Oauth2CodeGetHandler"), "handleRequest", "code = {code} " + _RURI)),
             (("ClientMapStore", "load", "{uuid}"), ("UserMapStore", "load", "{hex8}"))),
        Flow(0.4, "POST", "/oauth2/code", ("{basic}", "authorization"),
             (("DEBUG", _h("code", "Oauth2CodePostHandler"), "handleRequest", "userId = admin client_id = {uuid}"),
              ("DEBUG", _h("code", "Oauth2CodePostHandler"), "handleRequest", "code = {code} " + _RURI)),
             (("UserMapStore", "load", "{hex8}"),)),
    ),
    "client": (
        Flow(0.35, "GET", "/oauth2/client/{uuid}", ("{uuid}", "clientId"),
             (("DEBUG", _h("client", "Oauth2ClientClientIdGetHandler"), "handleRequest", "clientId = {uuid}"),),
             (("ClientMapStore", "load", "{uuid}"),)),
        Flow(0.25, "POST", "/oauth2/client", ("{bearer}", "authorization"),
             (("DEBUG", _h("client", "Oauth2ClientPostHandler"), "handleRequest", "clientId = {uuid} ownerId = admin"),),
             (("ClientMapStore", "store", "{uuid}"),)),
        Flow(0.2, "GET", "/oauth2/client", ("{page}", "page"),
             (("DEBUG", _h("client", "Oauth2ClientGetHandler"), "handleRequest", "page = {page} pageSize = 10"),)),
        Flow(0.2, "DELETE", "/oauth2/client/{uuid}", ("{uuid}", "clientId"),
             (("DEBUG", _h("client", "Oauth2ClientClientIdDeleteHandler"), "handleRequest", "clientId = {uuid}"),),
             (("ClientMapStore", "delete", "{uuid}"),)),
    ),
    "key": (
        Flow(1.0, "GET", "/oauth2/key/{keyid}", ("{keyid}", "keyId"),
             (("DEBUG", _h("key", "Oauth2KeyKeyIdGetHandler"), "handleRequest", "keyId = {keyid}"),
              ("INFO", "com.networknt.config.Config", "getConfigStream",
               "Config loaded from externalized folder for primary.crt in /config"))),
    ),
    "refresh-token": (
        Flow(0.5, "GET", "/oauth2/refresh_token", ("{page}", "page"),
             (("DEBUG", _h("refresh-token", "Oauth2RefreshTokenGetHandler"), "handleRequest", "page = {page}"),)),
        Flow(0.3, "GET", "/oauth2/refresh_token/{uuid}", ("{uuid}", "refreshToken"),
             (("DEBUG", _h("refresh-token", "Oauth2RefreshTokenRefreshTokenGetHandler"), "handleRequest",
               "refreshToken = {uuid}"),),
             (("RefreshTokenMapStore", "load", "{uuid}"),)),
        Flow(0.2, "DELETE", "/oauth2/refresh_token/{uuid}", ("{uuid}", "refreshToken"),
             (("DEBUG", _h("refresh-token", "Oauth2RefreshTokenRefreshTokenDeleteHandler"), "handleRequest",
               "refreshToken = {uuid}"),),
             (("RefreshTokenMapStore", "delete", "{uuid}"),)),
    ),
    "service": (
        Flow(0.4, "GET", "/oauth2/service/{hex8}", ("{hex8}", "serviceId"),
             (("DEBUG", _h("service", "Oauth2ServiceServiceIdGetHandler"), "handleRequest", "serviceId = {hex8}"),),
             (("ServiceMapStore", "load", "{hex8}"),)),
        Flow(0.3, "POST", "/oauth2/service", ("{bearer}", "authorization"),
             (("DEBUG", _h("service", "Oauth2ServicePostHandler"), "handleRequest", "serviceId = {hex8} ownerId = admin"),),
             (("ServiceMapStore", "store", "{hex8}"),)),
        Flow(0.3, "GET", "/oauth2/service", ("{page}", "page"),
             (("DEBUG", _h("service", "Oauth2ServiceGetHandler"), "handleRequest", "page = {page} pageSize = 10"),)),
    ),
    "user": (
        Flow(0.4, "GET", "/oauth2/user/{hex8}", ("{hex8}", "userId"),
             (("DEBUG", _h("user", "Oauth2UserUserIdGetHandler"), "handleRequest", "userId = {hex8}"),),
             (("UserMapStore", "load", "{hex8}"),)),
        Flow(0.3, "POST", "/oauth2/user", ("{bearer}", "authorization"),
             (("DEBUG", _h("user", "Oauth2UserPostHandler"), "handleRequest", "userId = {hex8} email = {hex8}@networknt.com"),),
             (("UserMapStore", "store", "{hex8}"),)),
        Flow(0.3, "PUT", "/oauth2/password/{hex8}", ("{hex8}", "userId"),
             (("DEBUG", _h("user", "Oauth2PasswordUserIdPostHandler"), "handleRequest", "userId = {hex8}"),),
             (("UserMapStore", "load", "{hex8}"), ("UserMapStore", "store", "{hex8}"))),
    ),
}

_E = ErrorCase
ERROR_CASES: dict[str, ErrorCase] = {
    "access_token_auth_header_error_401": _E("token", "POST", "/oauth2/token", _TOKEN, 401, "ERR12004",
                                             "INVALID_AUTHORIZATION_HEADER", "Invalid authorization header Bearer incorrect_token."),
    "access_token_client_id_not_found_404": _E("token", "POST", "/oauth2/token", _TOKEN, 404, "ERR12014",
                                               "CLIENT_NOT_FOUND", "Client {uuid} is not found."),
    "access_token_client_secret_wrong_401": _E("token", "POST", "/oauth2/token", _TOKEN, 401, "ERR12007",
                                               "UNAUTHORIZED_CLIENT", "Unauthorized client with wrong client secret."),
    "access_token_illegal_grant_type_400": _E("token", "POST", "/oauth2/token", _TOKEN, 400, "ERR12001",
                                              "UNSUPPORTED_GRANT_TYPE", "Unsupported grant type password. Only authorization_code, client_credentials and refresh_token are supported."),
    "access_token_missing_authorization_header_400": _E("token", "POST", "/oauth2/token", "com.networknt.openapi.ValidatorHandler",
                                                        400, "ERR11017", "VALIDATOR_REQUEST_PARAMETER_HEADER_MISSING",
                                                        "Header parameter authorization is required on path /oauth2/token but not found in request.", "validation"),
    "authorization_code_missing_response_type_400": _E("code", "GET", "/oauth2/code", "com.networknt.openapi.ValidatorHandler",
                                                       400, "ERR11001", "VALIDATOR_REQUEST_PARAMETER_QUERY_MISSING",
                                                       "Query parameter response_type is required on path /oauth2/code but not found in request.", "validation"),
    "authorization_code_invalid_client_id_404": _E("code", "GET", "/oauth2/code", _h("code", "Oauth2CodeGetHandler"), 404,
                                                   "ERR12014", "CLIENT_NOT_FOUND", "Client {uuid} is not found."),
    "authorization_code_invalid_password_401": _E("code", "POST", "/oauth2/code", _h("code", "Oauth2CodePostHandler"), 401,
                                                  "ERR12016", "INCORRECT_PASSWORD", "Incorrect password."),
    "code_verifier_missing_pkce_400": _E("token", "POST", "/oauth2/token", _TOKEN, 400, "ERR12037",
                                         "CODE_VERIFIER_MISSING", "PKCE codeVerifier is not specified"),
    "verification_failed_pkce_400": _E("token", "POST", "/oauth2/token", _TOKEN, 400, "ERR12040",
                                       "CODE_VERIFIER_FAILED", "PKCE verification failed"),
    "delete_client_404_no_client": _E("client", "DELETE", "/oauth2/client/{uuid}", _h("client", "Oauth2ClientClientIdDeleteHandler"),
                                      404, "ERR12014", "CLIENT_NOT_FOUND", "Client {uuid} is not found."),
    "get_client_404_no_client": _E("client", "GET", "/oauth2/client/{uuid}", _h("client", "Oauth2ClientClientIdGetHandler"),
                                   404, "ERR12014", "CLIENT_NOT_FOUND", "Client {uuid} is not found."),
    "register_client_404_no_user": _E("client", "POST", "/oauth2/client", _h("client", "Oauth2ClientPostHandler"),
                                      404, "ERR12013", "USER_NOT_FOUND", "User {hex8} is not found."),
    "delete_token_404": _E("refresh-token", "DELETE", "/oauth2/refresh_token/{uuid}",
                           _h("refresh-token", "Oauth2RefreshTokenRefreshTokenDeleteHandler"), 404, "ERR12029",
                           "REFRESH_TOKEN_NOT_FOUND", "Refresh token {uuid} is not found."),
    "get_token_404": _E("refresh-token", "GET", "/oauth2/refresh_token/{uuid}",
                        _h("refresh-token", "Oauth2RefreshTokenRefreshTokenGetHandler"), 404, "ERR12029",
                        "REFRESH_TOKEN_NOT_FOUND", "Refresh token {uuid} is not found."),
    "get_token_page_400_no_page": _E("refresh-token", "GET", "/oauth2/refresh_token", "com.networknt.openapi.ValidatorHandler",
                                     400, "ERR11001", "VALIDATOR_REQUEST_PARAMETER_QUERY_MISSING",
                                     "Query parameter page is required on path /oauth2/refresh_token but not found in request.", "validation"),
    "get_service_404_no_service": _E("service", "GET", "/oauth2/service/{hex8}", _h("service", "Oauth2ServiceServiceIdGetHandler"),
                                     404, "ERR12015", "SERVICE_NOT_FOUND", "Service {hex8} is not found."),
    "register_service_400_service_type": _E("service", "POST", "/oauth2/service", "com.networknt.openapi.ValidatorHandler",
                                            400, "ERR11004", "VALIDATOR_SCHEMA",
                                            "Schema Validation Error - serviceType: does not have a value in the enumeration [swagger, openapi, graphql, hybrid]", "validation"),
    "get_user_404_no_user": _E("user", "GET", "/oauth2/user/{hex8}", _h("user", "Oauth2UserUserIdGetHandler"),
                               404, "ERR12013", "USER_NOT_FOUND", "User {hex8} is not found."),
    "register_user_400_user_exists": _E("user", "POST", "/oauth2/user", _h("user", "Oauth2UserPostHandler"),
                                        400, "ERR12020", "USER_ID_EXISTS", "User id {hex8} exists.", "db"),
    "update_password_401_wrong_password": _E("user", "PUT", "/oauth2/password/{hex8}", _h("user", "Oauth2PasswordUserIdPostHandler"),
                                             401, "ERR12016", "INCORRECT_PASSWORD", "Incorrect password."),
    "get_client_page_400_no_page": _E("client", "GET", "/oauth2/client", "com.networknt.openapi.ValidatorHandler",
                                      400, "ERR11001", "VALIDATOR_REQUEST_PARAMETER_QUERY_MISSING",
                                      "Query parameter page is required on path /oauth2/client but not found in request.", "validation"),
}

#: The light-4j middleware chain every request passes (innermost frame first).
HANDLER_CHAIN = (
    ("com.networknt.handler.Handler", "next", "Handler.java", 233),
    ("com.networknt.openapi.JwtVerifyHandler", "handleRequest", "JwtVerifyHandler.java", 104),
    ("com.networknt.handler.Handler", "next", "Handler.java", 233),
    ("com.networknt.openapi.ValidatorHandler", "handleRequest", "ValidatorHandler.java", 87),
    ("com.networknt.handler.Handler", "next", "Handler.java", 233),
    ("com.networknt.openapi.OpenApiHandler", "handleRequest", "OpenApiHandler.java", 112),
    ("com.networknt.handler.Handler", "next", "Handler.java", 233),
    ("com.networknt.traceability.TraceabilityHandler", "handleRequest", "TraceabilityHandler.java", 68),
    ("com.networknt.handler.Handler", "next", "Handler.java", 233),
    ("com.networknt.correlation.CorrelationHandler", "handleRequest", "CorrelationHandler.java", 76),
    ("com.networknt.handler.Handler", "next", "Handler.java", 233),
    ("com.networknt.exception.ExceptionHandler", "handleRequest", "ExceptionHandler.java", 63),
    ("io.undertow.server.Connectors", "executeRootHandler", "Connectors.java", 360),
    ("io.undertow.server.HttpServerExchange$1", "run", "HttpServerExchange.java", 830),
    ("java.base/java.util.concurrent.ThreadPoolExecutor", "runWorker", "ThreadPoolExecutor.java", 1128),
    ("java.base/java.util.concurrent.ThreadPoolExecutor$Worker", "run", "ThreadPoolExecutor.java", 628),
    ("java.base/java.lang.Thread", "run", "Thread.java", 829),
)

#: Start-up lines on the ``main`` thread (no correlation id): (level, fqcn, method, message).
INIT_LINES = (
    ("INFO", "com.networknt.server.Server", "start", "server starts"),
    *(("INFO", "com.networknt.config.Config", "getConfigStream",
       f"Config loaded from externalized folder for {name} in /config")
      for name in ("server.yml", "client.yml", "security.yml", "openapi.yml", "status.yml",
                   "handler.yml", "datasource.yml", "hazelcast.yml")),
    ("INFO", "com.hazelcast.instance.AddressPicker", "log", "[LOCAL] [dev] [3.12.6] Prefer IPv4 stack is true."),
    ("INFO", "com.hazelcast.instance.AddressPicker", "log",
     "[LOCAL] [dev] [3.12.6] Picked [{ip}]:5701, using socket ServerSocket[addr=/0.0.0.0,localport=5701], bind any local is true"),
    ("INFO", "com.hazelcast.system", "log", "[{ip}]:5701 [dev] [3.12.6] Hazelcast 3.12.6 (20200130 - 2c4c8ef) starting at [{ip}]:5701"),
    ("INFO", "com.hazelcast.core.LifecycleService", "log", "[{ip}]:5701 [dev] [3.12.6] [{ip}]:5701 is STARTED"),
    ("INFO", "com.networknt.server.Server", "start", "Http Server started on ip:0.0.0.0 with HTTPS port:{port}"),
)
