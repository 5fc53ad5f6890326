/* Shared helpers for the element tests (GstCheck).
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#ifndef GST_RNN_TESTS_ELEMENTTEST_H
#define GST_RNN_TESTS_ELEMENTTEST_H

#include <glib.h>
#include <glib/gstdio.h>

/* Removes a flat temporary folder made with g_dir_make_tmp (the files a test wrote into it, then
 * the folder) and frees its name. */
static inline void
element_test_remove_tmpdir (gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  while (d && (name = g_dir_read_name (d))) {
    gchar *p = g_build_filename (dir, name, NULL);

    g_unlink (p);
    g_free (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
  g_free (dir);
}

#endif
