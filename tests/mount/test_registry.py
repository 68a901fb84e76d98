#!/usr/bin/python3
"""Every test method of tests/mount/test_*.py is registered in meson.build.

Why: meson runs one test per method by name; a method missing from
tests/mount/meson.build would silently never run.  Needs no FUSE.
"""
import ast
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


# The files registered through the mount_tests dict of meson.build
# (test_frontend.py belongs to the front-end and registers itself).
FILES = ("test_syscalls.py", "test_offline.py", "test_mutt.py", "test_python_mount.py",
         "test_guard.py")


def methods(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    out = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test_"):
                    out.add("%s.%s" % (node.name, item.name))
    return out


class TestRegistry(unittest.TestCase):
    def test_all_registered(self):
        with open(os.path.join(HERE, "meson.build")) as f:
            build = f.read()
        registered = set(re.findall(r"'(Test\w+\.test_\w+)'", build))
        self.assertTrue(registered, "no test names found in meson.build")
        for name in FILES:
            self.assertIn("'%s'" % name, build)
            missing = methods(os.path.join(HERE, name)) - registered
            self.assertEqual(missing, set(), "%s: not in tests/mount/meson.build" % name)


if __name__ == "__main__":
    unittest.main(verbosity=2, argv=sys.argv[:1])
