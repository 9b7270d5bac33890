// AfterReply (fs/hooks.h): work deferred inside a request's scope runs at its end, in order, on
// the same thread; outside a scope (the transfer engine, tests) it runs at once.
#include <catch2/catch.hpp>
#include <string>
#include <thread>

#include "fs/hooks.h"

namespace gf::fs {

TEST_CASE("AfterReply runs deferred work at the end of the request, in order", "[fs][hooks]") {
  std::string ran;
  AfterReply::Begin();
  AfterReply::Defer([&] { ran += "a"; });
  AfterReply::Defer([&] {
    ran += "b";
    AfterReply::Defer([&] { ran += "c"; });  // deferred while the deferred work runs: at once
  });
  CHECK(ran.empty());
  AfterReply::End();
  CHECK(ran == "abc");
  AfterReply::End();  // nothing left: runs nothing again
  CHECK(ran == "abc");
}

TEST_CASE("AfterReply outside a request runs the work at once", "[fs][hooks]") {
  std::string ran;
  AfterReply::Defer([&] { ran += "now"; });
  CHECK(ran == "now");
}

TEST_CASE("AfterReply scopes are per thread", "[fs][hooks]") {
  std::string here, there;
  AfterReply::Begin();
  std::thread t([&] { AfterReply::Defer([&] { there = "at once"; }); });
  t.join();
  CHECK(there == "at once");  // the other thread serves no request
  AfterReply::Defer([&] { here = "later"; });
  CHECK(here.empty());
  AfterReply::End();
  CHECK(here == "later");
}

}  // namespace gf::fs
