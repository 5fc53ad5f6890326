/* LD_PRELOAD shim for test_train_kill.py: SIGKILLs the process in the middle of saving a model.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * RNN_KILL_AT=write   after writing half of the temporary file (PATH.tmp.XXXXXX)
 * RNN_KILL_AT=sync    when the complete temporary file is about to be fsync'ed
 * RNN_KILL_AT=rename  just before the temporary file is renamed over PATH
 * Only calls on a temporary model file (a name containing ".tmp.") are affected.
 */
#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

size_t fwrite (const void *ptr, size_t size, size_t n, FILE * f);
int fsync (int fd);
int rename (const char *oldpath, const char *newpath);

static int
kill_at (const char *what)
{
  const char *at = getenv ("RNN_KILL_AT");
  return at && strcmp (at, what) == 0;
}

static int
is_tmp_fd (int fd)
{
  char link[64], target[PATH_MAX];
  ssize_t len;
  snprintf (link, sizeof (link), "/proc/self/fd/%d", fd);
  len = readlink (link, target, sizeof (target) - 1);
  if (len <= 0)
    return 0;
  target[len] = '\0';
  return strstr (target, ".tmp.") != NULL;
}

size_t
fwrite (const void *ptr, size_t size, size_t n, FILE * f)
{
  size_t (*real) (const void *, size_t, size_t, FILE *) =
      (size_t (*)(const void *, size_t, size_t, FILE *)) dlsym (RTLD_NEXT, "fwrite");
  if (kill_at ("write") && size * n >= 2 && is_tmp_fd (fileno (f))) {
    real (ptr, 1, size * n / 2, f);
    fflush (f);
    raise (SIGKILL);
  }
  return real (ptr, size, n, f);
}

int
fsync (int fd)
{
  int (*real) (int) = (int (*)(int)) dlsym (RTLD_NEXT, "fsync");
  if (kill_at ("sync") && is_tmp_fd (fd))
    raise (SIGKILL);
  return real (fd);
}

int
rename (const char *oldpath, const char *newpath)
{
  int (*real) (const char *, const char *) =
      (int (*)(const char *, const char *)) dlsym (RTLD_NEXT, "rename");
  if (kill_at ("rename") && strstr (oldpath, ".tmp."))
    raise (SIGKILL);
  return real (oldpath, newpath);
}
