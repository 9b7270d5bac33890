#include <catch2/catch.hpp>
#include <cerrno>

#include "common/error.h"

using gf::Error;

TEST_CASE("errno table maps Globus codes", "[error]") {
  CHECK(gf::ErrnoFor(Error::Api(404, "ClientError.NotFound", "")) == ENOENT);
  CHECK(gf::ErrnoFor(Error::Api(404, "NotFound", "")) == ENOENT);
  CHECK(gf::ErrnoFor(Error::Api(403, "EndpointPermissionDenied", "")) == EACCES);
  CHECK(gf::ErrnoFor(Error::Api(502, "ExternalError.DirListingFailed.NotDirectory", "")) ==
        ENOTDIR);
  CHECK(gf::ErrnoFor(Error::Api(502, "ExternalError.MkdirFailed.Exists", "")) == EEXIST);
  CHECK(gf::ErrnoFor(Error::Api(409, "Conflict", "")) == EBUSY);
}

TEST_CASE("errno table falls back on prefixes and status", "[error]") {
  // A sub-code we have never seen still maps by its family.
  CHECK(gf::ErrnoFor(Error::Api(404, "ClientError.NotFound.Something", "")) == ENOENT);
  CHECK(gf::ErrnoFor(Error::Api(500, "ServerError", "")) == EIO);
  CHECK(gf::ErrnoFor(Error::Api(403, "SomethingNew", "")) == EACCES);
  CHECK(gf::ErrnoFor(Error::Api(502, "ExternalError.DirListingFailed", "")) == EIO);
}

TEST_CASE("transport failures map to EIO or ETIMEDOUT, never success", "[error]") {
  CHECK(gf::ErrnoFor(Error::Transport(gf::TransportFailure::kTimeout, "")) == ETIMEDOUT);
  CHECK(gf::ErrnoFor(Error::Transport(gf::TransportFailure::kReset, "")) == EIO);
  CHECK(gf::ErrnoFor(Error::Transport(gf::TransportFailure::kTruncated, "")) == EIO);
  CHECK(gf::ErrnoFor(Error::NotSupported("write")) == EOPNOTSUPP);
  CHECK(gf::ErrnoFor(Error::Local(ENOSPC, "")) == ENOSPC);
}

TEST_CASE("CodeIs matches whole dotted segments only", "[error]") {
  Error e = Error::Api(502, "ExternalError.DirListingFailed.LoginFailed", "");
  CHECK(e.CodeIs("ExternalError"));
  CHECK(e.CodeIs("ExternalError.DirListingFailed"));
  CHECK_FALSE(e.CodeIs("ExternalError.DirList"));
  CHECK_FALSE(Error::Api(404, "NotFoundish", "").CodeIs("NotFound"));
}

TEST_CASE("task error codes map to the errno a failed cp reports", "[error]") {
  CHECK(gf::ErrnoFor(Error::Api(0, "FILE_NOT_FOUND", "")) == ENOENT);
  CHECK(gf::ErrnoFor(Error::Api(0, "PERMISSION_DENIED", "")) == EACCES);
  CHECK(gf::ErrnoFor(Error::Api(0, "CANCELED", "")) == ECANCELED);
  CHECK(gf::ErrnoFor(Error::Api(0, "QUOTA_EXCEEDED", "")) == EDQUOT);
}
