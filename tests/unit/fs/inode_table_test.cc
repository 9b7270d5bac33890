// Lookup-count discipline and the bounded caches.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "fs/superblock/inode_table.h"
#include "fs/superblock/virtual_tree.h"
#include "fs_world.h"

using namespace gf::fs;
using namespace gf::fs::testing;

TEST_CASE("forget to zero erases the inode; numbers are never reused", "[fs][inodes]") {
  InodeTable t(false);
  auto a = t.Link(t.root(), "a", Kind::kFile, Role::kRemote, nullptr, 1);
  auto a2 = t.Link(t.root(), "a", Kind::kFile, Role::kRemote, nullptr, 2);
  CHECK(a == a2);
  CHECK(t.LookupCount(a->ino) == 3);
  t.Forget(a->ino, 2);
  CHECK(t.Get(a->ino) != nullptr);
  t.ForgetMulti({{a->ino, 1}});
  CHECK(t.Get(a->ino) == nullptr);
  CHECK(t.Child(kRootIno, "a") == nullptr);
  auto again = t.Link(t.root(), "a", Kind::kFile, Role::kRemote, nullptr, 1);
  CHECK(again->ino > a->ino);
  CHECK(t.underflows() == 0);
}

TEST_CASE("a kind change makes a new inode and a stale forget keeps the newer one",
          "[fs][inodes]") {
  InodeTable t(false);
  auto old_file = t.Link(t.root(), "x", Kind::kFile, Role::kRemote, nullptr, 1);
  auto new_dir = t.Link(t.root(), "x", Kind::kDir, Role::kRemote, nullptr, 1);
  CHECK(new_dir->ino != old_file->ino);
  t.Forget(old_file->ino, 1);  // the old inode goes...
  CHECK(t.Get(old_file->ino) == nullptr);
  auto child = t.Child(kRootIno, "x");  // ...but the dentry still leads to the new one
  REQUIRE(child);
  CHECK(child->ino == new_dir->ino);
}

TEST_CASE("lookup count underflow is detected, root is never forgotten", "[fs][inodes]") {
  InodeTable t(false);
  auto a = t.Link(t.root(), "a", Kind::kFile, Role::kRemote, nullptr, 1);
  t.Forget(a->ino, 2);
  CHECK(t.underflows() == 1);
  t.Forget(999999, 1);
  CHECK(t.underflows() == 2);
  t.Forget(kRootIno, 1);
  CHECK(t.Get(kRootIno) != nullptr);
}

namespace {
// A collection root with /d/f below it.
struct CollectionTree {
  CollectionTree() {
    c.id = "c";
    croot = t.Link(t.root(), "Coll", Kind::kDir, Role::kCollectionRoot, &c, 1);
    d = t.Link(croot, "d", Kind::kDir, Role::kRemote, &c, 1);
    f = t.Link(d, "f", Kind::kFile, Role::kRemote, &c, 1);
  }
  InodeTable t{false};
  Collection c;
  InodePtr croot, d, f;
};
}  // namespace

TEST_CASE("paths come from names, rename moves the inode", "[fs][inodes]") {
  CollectionTree tree;
  auto& [t, c, croot, d, f] = tree;
  CHECK(t.Path(*croot) == "/");
  CHECK(t.Path(*f) == "/d/f");
  t.Move(f->ino, croot, "g");
  CHECK(t.Path(*f) == "/g");
  CHECK(t.Child(d->ino, "f") == nullptr);
  // Forgetting the directory keeps the file's path computable.
  t.Forget(d->ino, 1);
  auto f2 = t.Link(d, "f2", Kind::kFile, Role::kRemote, &c, 1);
  CHECK(t.Path(*f2) == "/d/f2");
}

TEST_CASE("an inode no name leads to is stale, and so is everything below it", "[fs][inodes]") {
  CollectionTree tree;
  auto& [t, c, croot, d, f] = tree;
  CHECK_FALSE(t.Stale(*croot));
  CHECK_FALSE(t.Stale(*f));
  SECTION("unlinked (removed, or moved to another collection): it and its children") {
    t.Unlink(croot->ino, "d", d->ino);
    CHECK(t.Stale(*d));
    CHECK(t.Stale(*f));
    CHECK(t.Path(*f) == "/d/f");  // the old path, which is why it must not be acted on
    auto fresh = t.Link(croot, "d", Kind::kDir, Role::kRemote, &c, 1);
    CHECK(fresh != d);
    CHECK_FALSE(t.Stale(*fresh));
    CHECK(t.Stale(*d));
  }
  SECTION("an Unlink that expects another inode leaves this one alone") {
    t.Unlink(croot->ino, "d", f->ino);
    CHECK_FALSE(t.Stale(*d));
  }
  SECTION("the name now leads to another inode (a kind change)") {
    auto now_file = t.Link(croot, "d", Kind::kFile, Role::kRemote, &c, 1);
    CHECK(t.Stale(*d));
    CHECK(t.Stale(*f));
    CHECK_FALSE(t.Stale(*now_file));
  }
  SECTION("a rename moves the inode: not stale; the one it replaced is") {
    auto g = t.Link(croot, "g", Kind::kFile, Role::kRemote, &c, 1);
    t.Move(f->ino, croot, "g");
    CHECK_FALSE(t.Stale(*f));
    CHECK(t.Stale(*g));
    t.Unlink(croot->ino, "g", f->ino);
    CHECK(t.Stale(*f));
    t.Move(f->ino, d, "back");  // renamed again (after a failed move's name came back)
    CHECK_FALSE(t.Stale(*f));
  }
}

// Dentry keys view the name stored in the inode they point at (no second copy): every way a
// dentry changes hands must leave no key viewing a name that was replaced or freed.
TEST_CASE("dentries stay valid as names move between inodes", "[fs][inodes]") {
  InodeTable t(false);
  auto dir = t.Link(t.root(), "dir", Kind::kDir, Role::kRemote, nullptr, 1);
  // Built at run time so no two strings share storage with the table's copies.
  std::string long_name(40, 'n');
  auto a = t.Link(dir, long_name, Kind::kFile, Role::kRemote, nullptr, 1);
  long_name.assign(40, 'z');  // the caller's string changes: the table kept its own copy
  REQUIRE(t.Child(dir->ino, std::string(40, 'n')) == a);
  CHECK(t.Name(*a) == std::string(40, 'n'));

  // A newer inode takes the name, then the old one is forgotten: the dentry must survive
  // (its key now views the NEW inode's name, not the freed one).
  auto b = t.Link(dir, std::string(40, 'n'), Kind::kDir, Role::kRemote, nullptr, 1);
  REQUIRE(b != a);
  t.Forget(a->ino, 1);
  a.reset();
  REQUIRE(t.Child(dir->ino, std::string(40, 'n')) == b);

  // Rename b over an existing entry, then rename it again: old names must be gone.
  auto c = t.Link(dir, "c-target-name-longer-than-sso", Kind::kFile, Role::kRemote, nullptr, 1);
  t.Move(b->ino, dir, "c-target-name-longer-than-sso");
  CHECK(t.Child(dir->ino, std::string(40, 'n')) == nullptr);
  REQUIRE(t.Child(dir->ino, "c-target-name-longer-than-sso") == b);
  t.Forget(c->ino, 1);  // the replaced inode goes; b's dentry stays
  REQUIRE(t.Child(dir->ino, "c-target-name-longer-than-sso") == b);
  t.Move(b->ino, t.root(), "moved");
  CHECK(t.Child(dir->ino, "c-target-name-longer-than-sso") == nullptr);
  CHECK(t.Path(*b).empty());  // not below a collection root: virtual path
  CHECK(t.Name(*b) == "moved");
  auto kids = t.Children(kRootIno);
  CHECK(std::count(kids.begin(), kids.end(), std::make_pair(std::string("moved"), b->ino)) == 1);
  CHECK(t.Children(dir->ino).empty());

  // Many names under one parent: each found, in order, and gone after its forget.
  std::vector<InodePtr> many;
  for (int i = 0; i < 1000; ++i)
    many.push_back(t.Link(dir, "file-" + std::to_string(1000000 + i) + ".dat", Kind::kFile,
                          Role::kRemote, nullptr, 1));
  auto listed = t.Children(dir->ino);
  REQUIRE(listed.size() == 1000);
  CHECK(std::is_sorted(listed.begin(), listed.end()));
  for (int i = 0; i < 1000; i += 2) t.Forget(many[i]->ino, 1);
  CHECK(t.Children(dir->ino).size() == 500);
  CHECK(t.Child(dir->ino, "file-1000001.dat") == many[1]);
  CHECK(t.Child(dir->ino, "file-1000000.dat") == nullptr);
  CHECK(t.underflows() == 0);
}

TEST_CASE("pinned inodes keep their count semantics without a slot flag", "[fs][inodes]") {
  InodeTable t(false);
  auto pinned = t.AddPinned(3, t.root(), ".pinned", Kind::kDir, Role::kControlDir);
  auto again = t.Link(t.root(), ".pinned", Kind::kDir, Role::kControlDir, nullptr, 2);
  CHECK(again == pinned);
  CHECK(t.LookupCount(3) == 2);
  t.Forget(3, 2);
  CHECK(t.Get(3) == pinned);  // never erased at zero
  CHECK(t.Child(kRootIno, ".pinned") == pinned);
  t.Forget(kRootIno, 1);
  CHECK(t.Get(kRootIno) != nullptr);
}

TEST_CASE("dentries are ordered and found by name bytes, prefixes and high bytes included",
          "[fs][inodes]") {
  InodeTable t(false);
  auto dir = t.Link(t.root(), "d", Kind::kDir, Role::kRemote, nullptr, 1);
  auto other = t.Link(t.root(), "e", Kind::kDir, Role::kRemote, nullptr, 1);
  const std::vector<std::string> names = {"b",    "abc", "a",    "ab", "\xc3\xa9t\xc3\xa9",
                                          "\xff", "a b", "\x7f", "Z",  "abd"};
  for (const auto& n : names) {
    t.Link(dir, n, Kind::kFile, Role::kRemote, nullptr, 1);
    t.Link(other, n + "x", Kind::kFile, Role::kRemote, nullptr, 1);
  }
  // Children come in std::string's order (unsigned bytes, a prefix before what extends it).
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> got;
  for (auto& [n, ino] : t.Children(dir->ino)) got.push_back(n);
  CHECK(got == sorted);
  // A name given as a view into a longer buffer is found by its own bytes only.
  const std::string buf = "abcdef";
  REQUIRE(t.Child(dir->ino, std::string_view(buf).substr(0, 2)) != nullptr);
  CHECK(t.Name(*t.Child(dir->ino, std::string_view(buf).substr(0, 2))) == "ab");
  CHECK(t.Name(*t.Child(dir->ino, std::string_view(buf).substr(0, 1))) == "a");
  CHECK(t.Child(dir->ino, std::string_view(buf).substr(0, 4)) == nullptr);  // "abcd"
  CHECK(t.Child(dir->ino, "a\x80") == nullptr);
  CHECK(t.Child(dir->ino, "") == nullptr);
  for (const auto& n : names) {
    auto in = t.Child(dir->ino, n);
    REQUIRE(in != nullptr);
    CHECK(t.Name(*in) == n);
    CHECK(t.Child(other->ino, n) == nullptr);  // same bytes, other directory
    CHECK(t.Child(other->ino, n + "x") != nullptr);
  }
}

TEST_CASE("FindInRoots: every root of the collection where the path is known, no other",
          "[fs][inodes]") {
  InodeTable t(false);
  auto by_id = t.AddPinned(kByIdIno, t.root(), ".by-id", Kind::kDir, Role::kById);
  Collection a, b;
  a.id = "a";
  b.id = "b";
  // Collection a by name, with /d/f known; by id, with only /d known.
  auto a_root = t.Link(t.root(), "A", Kind::kDir, Role::kCollectionRoot, &a, 1);
  auto a_d = t.Link(a_root, "d", Kind::kDir, Role::kRemote, &a, 1);
  auto a_f = t.Link(a_d, "f", Kind::kFile, Role::kRemote, &a, 1);
  auto a_id_root = t.Link(by_id, "a", Kind::kDir, Role::kCollectionRoot, &a, 1);
  auto a_id_d = t.Link(a_id_root, "d", Kind::kDir, Role::kRemote, &a, 1);
  // Collection b holds the same path: never a hit for a.
  auto b_root = t.Link(t.root(), "B", Kind::kDir, Role::kCollectionRoot, &b, 1);
  auto b_d = t.Link(b_root, "d", Kind::kDir, Role::kRemote, &b, 1);
  t.Link(b_d, "f", Kind::kFile, Role::kRemote, &b, 1);
  // A directory named like a collection root but of another role is not a root.
  t.Link(t.root(), "a-link", Kind::kDir, Role::kRemote, &a, 1);

  auto hits = t.FindInRoots({kRootIno, kByIdIno}, "a", "/d/f");
  REQUIRE(hits.size() == 2);
  CHECK(hits[0].dir == a_d);
  CHECK(hits[0].inode == a_f);
  CHECK(hits[1].dir == a_id_d);
  CHECK(hits[1].inode == nullptr);  // the directory is known there, the name is not

  CHECK(t.FindInRoots({kRootIno}, "a", "/d/f").size() == 1);
  CHECK(t.FindInRoots({kRootIno, kByIdIno}, "a", "/x/f").empty());  // no /x anywhere
  auto top = t.FindInRoots({kRootIno, kByIdIno}, "a", "/d");
  REQUIRE(top.size() == 2);
  CHECK(top[0].dir == a_root);
  CHECK(top[0].inode == a_d);
  CHECK(top[1].dir == a_id_root);
  CHECK(top[1].inode == a_id_d);
  CHECK(t.FindInRoots({kRootIno, kByIdIno}, "a", "/").empty());  // the root: no parent
  CHECK(t.FindInRoots({kRootIno, kByIdIno}, "a", "/d/").empty());
  CHECK(t.FindInRoots({kRootIno, kByIdIno}, "c", "/d/f").empty());
}
