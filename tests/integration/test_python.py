"""OfflineIMAP's Python-valued options (docs/python.md) against a real
Dovecot, compared with what the real offlineimap (Debian offlineimap3) does
with the same config on the same server state.

Each comparison runs offlineimap first into its own Maildir and metadata,
checks it left the server as it was (so offlinefs then starts from the same
server state), runs offlinefs into another Maildir, and compares the folder
sets and every file name's UID, FMD5 and flags.
"""

import os
import shutil
import stat
import subprocess
import sys
import unittest

from harness import (ACCOUNT, SyncTestCase, main, maildir_folders, maildir_messages,
                     make_local_folder, md5s)

PYTHONFILE = """
import os
import subprocess

def get_pass(account):
    # what real configs do: ask a password manager through a subprocess
    assert os.path.isdir(PASSDIR)
    return subprocess.check_output(['cat', PASSDIR + '/pass-' + account]).decode().strip()
"""

REMOTE_NAMETRANS = ("lambda f: {'Archive': 'arch'}.get(f, re.sub('^INBOX$', 'inbox', f))")
LOCAL_NAMETRANS = ("lambda f: {'arch': 'Archive'}.get(f, re.sub('^inbox$', 'INBOX', f))")
FOLDERFILTER = ("lambda f: f in ['INBOX', 'Archive', 'Spam'] and f != 'Spam' "
                "or re.search('^Lists/', f)")


class TestPython(SyncTestCase):

    def offlineimap(self, conf):
        exe = shutil.which("offlineimap")
        if not exe:
            self.skipTest("offlineimap (Debian offlineimap3) not installed")
        p = subprocess.run([exe, "-c", conf, "-o", "-u", "basic"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        out = p.stdout.decode(errors="replace")
        print("$ offlineimap -c %s\n%s" % (conf, out), file=sys.stderr)
        return p.returncode, out

    def pythonfile(self):
        passdir = os.path.join(self.client, "pw")
        os.makedirs(passdir, exist_ok=True)
        with open(os.path.join(passdir, "pass-test"), "w") as f:
            f.write(self.password + "\n")
        path = os.path.join(self.client, "helpers.py")
        with open(path, "w") as f:
            f.write("PASSDIR = %r\n" % passdir + PYTHONFILE)
        return path

    def python_config(self, mail, meta, name, remote=None, local=None, account=None):
        remote_opts = {"remotepass": None, "remotepasseval": "get_pass('test')",
                       "nametrans": REMOTE_NAMETRANS, "folderfilter": FOLDERFILTER,
                       "folderincludes": "['Trash']",
                       "foldersort": "lambda x, y: len(y) - len(x)",
                       "copy_ignore_eval": "lambda foldername: {'inbox': [2, 3]}.get(foldername)"}
        remote_opts.update(remote or {})
        local_opts = {"localfolders": mail, "nametrans": LOCAL_NAMETRANS}
        local_opts.update(local or {})
        return self.write_config(general={"metadata": meta, "pythonfile": self.pythonfile()},
                                 remote=remote_opts, local=local_opts, account=account,
                                 name=name)

    def summary(self, root):
        """{folder: sorted [(uid, fmd5, flags, body)]} of a Maildir."""
        out = {}
        for folder in maildir_folders(root):
            out[folder] = sorted((m.uid, m.fmd5, m.flags, m.body)
                                 for m in maildir_messages(root, folder))
        return out

    def compare_with_offlineimap(self, remote=None, local=None, folders=None, account=None):
        self.load_corpus(messages=30, folders=folders or
                         "INBOX,Archive,Trash,Spam,Lists/a,Lists/b,Other")
        with self.server() as srv:
            srv.store("INBOX", 1, "+FLAGS", ["\\Flagged"])
            before = srv.snapshot()
        oi_mail = os.path.join(self.client, "oi-Mail")
        oi_conf = self.python_config(oi_mail, os.path.join(self.client, "oi-meta"), "oi.conf",
                                     remote, local, account)
        rc, out = self.offlineimap(oi_conf)
        self.assertEqual(rc, 0, "offlineimap itself failed:\n" + out)
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), before, "offlineimap changed the server")
        conf = self.python_config(self.mail, self.meta, "ofs.conf", remote, local, account)
        r = self.sync(conf=conf)
        self.assert_contacted_server(r)
        want, got = self.summary(oi_mail), self.summary(self.mail)
        self.assertEqual(sorted(got), sorted(want), "folder sets differ")
        self.assertEqual(got, want)
        return got, r

    def test_nametrans_filters_same_as_offlineimap(self):
        """remotepasseval from a pythonfile (subprocess), nametrans on both
        sides, folderfilter with `in` and re.search, folderincludes,
        foldersort: the same folders, UIDs, FMD5s and flags as offlineimap."""
        got, r = self.compare_with_offlineimap()
        # what the options mean, stated once more without offlineimap
        self.assertEqual(sorted(got), ["Lists.a", "Lists.b", "Trash", "arch", "inbox"])
        # FMD5 hashes the local nametrans' visible name: 'inbox' -> 'INBOX'
        for _uid, fmd5, _flags, _body in got["inbox"]:
            self.assertEqual(fmd5, md5s("INBOX"))
        self.assertTrue(any("F" in m[2] for m in got["inbox"]))
        # copy_ignore_eval, called with the visible name
        uids = [m[0] for m in got["inbox"]]
        self.assertNotIn(2, uids)
        self.assertNotIn(3, uids)
        self.assertIn(4, uids)
        self.assertIn("IGNORED: Copy message UID 2 Remote:INBOX -> Local", r.output)
        # foldersort (longest first) is the order folders are synced in
        # (longest visible name first; ties keep the server's name order)
        order = [ln.split()[1].rstrip(":") for ln in r.out.splitlines() + r.err.splitlines()
                 if ln.startswith("Syncing ")]
        self.assertEqual(order, ["Lists/a", "Lists/b", "INBOX", "Trash", "Archive"], r.output)
        self.assertNotIn(self.password, r.output)

    def test_gmail_style_dict_nametrans_same_as_offlineimap(self):
        """The most common real form: a dict lookup on '[Gmail]/...' names
        with spaces, its reverse dict on the local side, and a `not in`
        folderfilter."""
        got, _ = self.compare_with_offlineimap(
            remote={"nametrans": "lambda f: {'[Gmail]/Sent Mail': 'sent', "
                                 "'[Gmail]/Trash': 'trash'}.get(f, f)",
                    "folderfilter": "lambda f: f not in ['[Gmail]/All Mail']",
                    "folderincludes": None, "foldersort": None, "copy_ignore_eval": None},
            local={"nametrans": "lambda f: {'sent': '[Gmail]/Sent Mail', "
                                "'trash': '[Gmail]/Trash'}.get(f, f)"},
            folders="INBOX,[Gmail]/Sent Mail,[Gmail]/All Mail,[Gmail]/Trash,[Gmail]/Drafts")
        self.assertEqual(sorted(got), ["INBOX", "[Gmail].Drafts", "sent", "trash"])
        for _uid, fmd5, _flags, _body in got["sent"]:
            self.assertEqual(fmd5, md5s("[Gmail]/Sent Mail"))

    def test_separator_clash_same_as_offlineimap(self):
        """A server folder whose name holds the local separator ('.' in
        'INBOX.Merch', server separator '/'), as in N0S4A2_dotfiles of
        tests/realconfigs: offlineimap does not sync it but creates its local
        image ('Merch' after the nametrans) empty; offlinefs does the same
        (it created nothing before), and a second run neither syncs it nor
        creates anything on the server."""
        opts = dict(remote={"nametrans": "lambda f: re.sub('^INBOX\\.', '', f)",
                            "folderfilter": "lambda f: f in ['INBOX', 'INBOX.Merch', 'a.b/c']",
                            "folderincludes": None, "foldersort": None,
                            "copy_ignore_eval": None},
                    local={"nametrans": None})
        got, r = self.compare_with_offlineimap(folders="INBOX,INBOX.Merch,a.b/c,Other", **opts)
        self.assertEqual(sorted(got), ["INBOX", "Merch", "a.b.c"])
        self.assertEqual(got["Merch"], [])
        self.assertEqual(got["a.b.c"], [])
        self.assertTrue(got["INBOX"])
        self.assertIn("Ignoring folder 'INBOX.Merch' due to unsupported '.' character", r.output)
        with self.server() as srv:
            before = srv.snapshot()
        conf = self.python_config(self.mail, self.meta, "ofs.conf", **opts)
        r2 = self.sync(conf=conf)
        self.assert_contacted_server(r2)
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), before)  # no 'a/b/c' created
        self.assertEqual(self.summary(self.mail), got)

    def test_utf8foldernames_same_as_offlineimap(self):
        """utf8foldernames: UTF-8 local folders (and FMD5s), as offlineimap
        8 makes them."""
        got, _ = self.compare_with_offlineimap(
            remote={"nametrans": None, "folderfilter": None, "folderincludes": None,
                    "foldersort": None, "copy_ignore_eval": None},
            local={"nametrans": None}, folders="INBOX,Entwürfe,Café/Reçus",
            account={"utf8foldernames": "yes"})
        self.assertIn("Entwürfe", got)
        self.assertIn("Café.Reçus", got)

    def test_broken_nametrans_pair_refused_like_offlineimap(self):
        """A nametrans that does not invert: both tools refuse with
        OfflineIMAP's INFINITE FOLDER CREATION error, and create nothing on
        the server."""
        self.load_corpus(messages=5, folders="INBOX")
        remote = {"nametrans": "lambda f: 'x_' + f", "folderfilter": None,
                  "folderincludes": None, "foldersort": None}
        oi_mail = os.path.join(self.client, "oi-Mail")
        make_local_folder(oi_mail, "mine")
        make_local_folder(self.mail, "mine")
        oi_conf = self.python_config(oi_mail, os.path.join(self.client, "oi-meta"), "oi.conf",
                                     remote, {"nametrans": None})
        rc, out = self.offlineimap(oi_conf)
        self.assertIn("INFINITE FOLDER CREATION DETECTED!", out)
        conf = self.python_config(self.mail, self.meta, "ofs.conf", remote, {"nametrans": None})
        with self.server() as srv:
            folders = set(srv.folders())
        r = self.run_offlinefs(conf=conf)
        self.assertEqual(r.rc, 1, str(r))
        self.assertIn("INFINITE FOLDER CREATION DETECTED! Folder 'mine' (repository 'Local') "
                      "would be created as folder 'mine' (repository 'Remote'). The latter "
                      "becomes 'x_mine' in return, leading to infinite folder creation "
                      "cycles.", r.output)
        with self.server() as srv:
            self.assertEqual(set(srv.folders()), folders)

    def test_python_error_one_line_nothing_touched(self):
        """A Python exception: one line with file:line and the exception,
        exit 1, no Maildir, no metadata, no lock."""
        conf = self.write_config(remote={"remotepass": None,
                                         "remotepasseval": "get_pass('test')",
                                         "folderfilter": "lambda f: f in ["})
        r = self.run_offlinefs(conf=conf)
        self.assertEqual(r.rc, 1, str(r))
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        self.assertIn("offlineimaprc:22: option 'remotepasseval' in section 'Repository "
                      "Remote': NameError: name 'get_pass' is not defined", r.output)
        self.assertIn("offlineimaprc:23: option 'folderfilter' in section 'Repository "
                      "Remote': SyntaxError: ", r.output)
        self.assertLessEqual(len(lines), 3, r.output)
        self.assertFalse(os.path.exists(self.mail))
        self.assertFalse(os.path.exists(self.meta))

    def test_no_python_option_never_starts_python(self):
        """Without a Python-valued option, python3 is never run: a python3
        that leaves a mark is first in PATH. With one, it is run (so the
        fake is really the one found)."""
        self.load_corpus(messages=3, folders="INBOX")
        fakebin = os.path.join(self.client, "fakebin")
        os.makedirs(fakebin)
        mark = os.path.join(self.client, "python-ran")
        fake = os.path.join(fakebin, "python3")
        with open(fake, "w") as f:
            f.write("#!/bin/sh\ntouch %s\nexit 1\n" % mark)
        os.chmod(fake, stat.S_IRWXU)
        env = {"PATH": fakebin + ":" + os.environ["PATH"]}
        self.sync(env=env)
        self.assertFalse(os.path.exists(mark), "python3 was started without Python options")
        conf = self.write_config(remote={"remotepass": None,
                                         "remotepasseval": repr(self.password)}, name="py.conf")
        r = self.run_offlinefs(conf=conf, env=env)
        self.assertEqual(r.rc, 1, str(r))
        self.assertTrue(os.path.exists(mark))
        self.assertIn("option 'remotepasseval' in section 'Repository Remote': the Python "
                      "helper (python3) exited unexpectedly", r.output)

    def test_offlineimap_state_taken_over_with_nametrans(self):
        """A Maildir and metadata offlineimap wrote under nametrans (its
        LocalStatus is named after the visible name) are taken over:
        offlinefs imports the status of every folder and copies, deletes
        and renames nothing."""
        from harness import tree_snapshot
        self.load_corpus(messages=20, folders="INBOX,Archive,Lists/a,Other")
        conf = self.python_config(self.mail, self.meta, "both.conf",
                                  {"copy_ignore_eval": None, "folderincludes": None})
        rc, out = self.offlineimap(conf)
        self.assertEqual(rc, 0, "offlineimap itself failed:\n" + out)
        tree = tree_snapshot(self.mail)
        with self.server() as srv:
            state = srv.snapshot()
        r = self.sync(conf=conf)
        self.assert_nothing_copied(r)
        for folder in ("INBOX", "Archive", "Lists/a"):
            self.assertRegex(r.output, r"Folder %s: imported \d+ status rows from OfflineIMAP"
                             % folder)
        self.assertEqual(tree_snapshot(self.mail), tree)
        with self.server() as srv:
            self.assertEqual(srv.snapshot(), state)

    def test_password_from_python_never_logged(self):
        """A password from remotepasseval never shows, with every debug
        category on, on the console or in the -l log."""
        import base64
        self.load_corpus(messages=3, folders="INBOX")
        log = os.path.join(self.client, "debug.log")
        conf = self.python_config(self.mail, self.meta, "ofs.conf",
                                  {"auth_mechanisms": "PLAIN", "copy_ignore_eval": None,
                                   "folderincludes": None})
        r = self.run_offlinefs("-d", "all", "-l", log, conf=conf)
        self.assertEqual(r.rc, 0, str(r))
        self.assert_contacted_server(r)
        with open(log, errors="replace") as f:
            text = r.output + f.read()
        self.assertRegex(text, r"(?i)\bauthenticate\b|\blogin\b")
        plain = base64.b64encode(b"\0" + self.user.encode() + b"\0" +
                                 self.password.encode()).decode()
        for secret in (self.password, plain):
            self.assertNotIn(secret, text)

    def test_migrate_fmd5_using_nametrans(self):
        """Files named with the md5 of the folder's own name (OfflineIMAP
        before 6.3.5) are renamed to the md5 of its local nametrans name:
        --dry-run renames nothing, the real run renames every one, and the
        next sync then copies nothing."""
        self.load_corpus(messages=12, folders="INBOX,Archive")
        conf = self.python_config(self.mail, self.meta, "ofs.conf",
                                  {"nametrans": "lambda f: 'x_' + f", "folderfilter": None,
                                   "folderincludes": None, "foldersort": None},
                                  {"nametrans": "lambda f: re.sub('^x_', '', f)"})
        self.sync(conf=conf)
        self.assertEqual(maildir_folders(self.mail), {"x_INBOX", "x_Archive"})
        # what an old offlineimap wrote: FMD5 of the directory's own name
        renamed = 0
        for folder in ("x_INBOX", "x_Archive"):
            new, old = md5s(folder[2:]), md5s(folder)
            for m in maildir_messages(self.mail, folder):
                self.assertEqual(m.fmd5, new)
                os.rename(m.path, m.path.replace("FMD5=" + new, "FMD5=" + old))
                renamed += 1
        self.assertGreater(renamed, 0)
        before = {f: sorted(m.name for m in maildir_messages(self.mail, f))
                  for f in ("x_INBOX", "x_Archive")}
        r = self.run_offlinefs("--migrate-fmd5-using-nametrans", "--dry-run", conf=conf,
                               once=False)
        self.assertEqual(r.rc, 0, str(r))
        self.assertEqual({f: sorted(m.name for m in maildir_messages(self.mail, f))
                          for f in before}, before)
        r = self.run_offlinefs("--migrate-fmd5-using-nametrans", conf=conf, once=False)
        self.assertEqual(r.rc, 0, str(r))
        self.assertIn("%d files migrated" % renamed, r.output)
        for folder in ("x_INBOX", "x_Archive"):
            msgs = maildir_messages(self.mail, folder)
            self.assertTrue(msgs)
            for m in msgs:
                self.assertEqual(m.fmd5, md5s(folder[2:]), m.name)
        r = self.sync(conf=conf)
        self.assert_nothing_copied(r)


import test_accounts  # noqa: E402


class TestPythonAccounts(test_accounts.AccountsCase):

    def test_accounts_in_parallel_processes(self):
        """maxsyncaccounts = 2: each account's process starts its own
        python3 helper (the handles defined while loading are replayed
        there) and applies its nametrans pair."""
        self.fill("A", 10)
        self.fill("B", 12, seed=2)
        pyfile = os.path.join(self.client, "pw.py")
        with open(pyfile, "w") as f:
            f.write("PW = %r\ndef get_pass(n):\n    return PW[n]\n" % {
                n: self.users[n]["password"] for n in "AB"})
        conf = self.two_accounts(general={"maxsyncaccounts": "2", "pythonfile": pyfile},
                                 a={"remotepass": None, "remotepasseval": "get_pass('A')"},
                                 b={"remotepass": None, "remotepasseval": "get_pass('B')"})
        with open(conf) as f:
            text = f.read()
        for n in "AB":
            text = text.replace("[Repository Remote%s]\n" % n, "[Repository Remote%s]\n"
                                "nametrans = lambda f: re.sub('^INBOX$', 'in_%s', f)\n" % (n, n))
            text = text.replace("[Repository Local%s]\n" % n, "[Repository Local%s]\n"
                                "nametrans = lambda f: re.sub('^in_%s$', 'INBOX', f)\n" % (n, n))
        with open(conf, "w") as f:
            f.write(text)
        r = self.sync(conf=conf)
        pids = set()
        for n in "AB":
            self.assertEqual(maildir_folders(self.roots[n]), {"in_" + n, "Archive"})
            msgs = maildir_messages(self.roots[n], "in_" + n)
            self.assertTrue(msgs)
            for m in msgs:
                self.assertEqual(m.fmd5, md5s("INBOX"))
            pids |= self.file_pids(n, "in_" + n)
        self.assertEqual(len(pids), 2, "the accounts were not synced by two processes")
        self.assertNotIn(self.users["A"]["password"], r.output)


if __name__ == "__main__":
    main()
