/* rnninfer with damaged model files: every kind of damage fails the state change with an error
 * message naming the file and the problem; nothing crashes or hangs.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <string.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>

#include "gstrnninfer.h"
#include "rnn.h"

static gchar *tmpdir;
static gchar *valid_bytes;
static gsize valid_size;

/* A small valid classifier, kept as bytes to damage. */
static void
make_valid_model (void)
{
  rnn_model *m = rnn_model_new (4);
  const char *labels[3] = { "x", "y", "z" };
  gchar *path = g_build_filename (tmpdir, "valid.rnn", NULL);
  char err[256];

  g_assert_true (rnn_model_add_layer (m, RNN_CELL_GRU, 6, 0) == 0);
  g_assert_true (rnn_model_set_head (m, RNN_HEAD_SOFTMAX, 3, RNN_POOL_LAST) == 0);
  g_assert_true (rnn_model_finalize (m) == 0);
  rnn_model_init_weights (m, 3);
  rnn_model_set_meta_string (m, "task", "classification");
  rnn_model_set_meta_strings (m, "labels", labels, 3);
  if (rnn_model_save (m, path, err, sizeof (err)) != 0)
    g_error ("cannot save a test model: %s", err);
  rnn_model_unref (m);
  g_assert_true (g_file_get_contents (path, &valid_bytes, &valid_size, NULL));
  g_assert_true (valid_size > 64);
  g_free (path);
}

static gchar *
write_file (const gchar * name, const gchar * data, gsize size)
{
  gchar *path = g_build_filename (tmpdir, name, NULL);

  fail_unless (g_file_set_contents (path, data, (gssize) size, NULL));
  return path;
}

/* Takes the element to PLAYING; returns the error message (caller frees) or NULL on success. */
static gchar *
try_model (const gchar * path)
{
  GstElement *e = gst_element_factory_make ("rnninfer", NULL);
  GstBus *bus = gst_bus_new ();
  GstStateChangeReturn ret;
  GstMessage *msg;
  gchar *text = NULL;

  gst_element_set_bus (e, bus);
  g_object_set (e, "model", path, NULL);
  ret = gst_element_set_state (e, GST_STATE_PLAYING);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    GError *err = NULL;

    fail_unless (msg != NULL, "state change failed without an error message");
    gst_message_parse_error (msg, &err, NULL);
    text = g_strdup (err->message);
    g_error_free (err);
  } else {
    fail_unless (msg == NULL);
  }
  if (msg)
    gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  return text;
}

/* The message names the file and says something after it about what is wrong. */
static void
expect_failure (const gchar * path, const gchar * name, const gchar * problem)
{
  gchar *msg = try_model (path);
  gchar *quoted = g_strdup_printf ("cannot load model '%s': ", path);

  fail_unless (msg != NULL, "%s loaded", name);
  GST_INFO ("%s: %s", name, msg);
  fail_unless (strstr (msg, name) != NULL, "'%s' does not name %s", msg, name);
  fail_unless (g_str_has_prefix (msg, quoted), "'%s'", msg);
  fail_unless (strlen (msg) > strlen (quoted) + 3, "no problem given: '%s'", msg);
  if (problem)
    fail_unless (strstr (msg, problem) != NULL, "'%s' does not say '%s'", msg, problem);
  g_free (quoted);
  g_free (msg);
}

GST_START_TEST (test_valid_loads)
{
  gchar *path = write_file ("ok.rnn", valid_bytes, valid_size);

  fail_unless (try_model (path) == NULL);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_missing)
{
  gchar *path = g_build_filename (tmpdir, "missing.rnn", NULL);

  expect_failure (path, "missing.rnn", "No such file");
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_empty)
{
  gchar *path = write_file ("empty.rnn", "", 0);

  expect_failure (path, "empty.rnn", "empty");
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_random_bytes)
{
  gchar *junk = g_malloc (valid_size);
  GRand *r = g_rand_new_with_seed (5);
  gchar *path;

  for (gsize i = 0; i < valid_size; i++)
    junk[i] = (gchar) g_rand_int_range (r, 0, 256);
  path = write_file ("random.rnn", junk, valid_size);
  expect_failure (path, "random.rnn", "magic");
  g_rand_free (r);
  g_free (junk);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_truncated)
{
  /* Several cut points: inside the header, the metadata, the weights, the last byte. */
  const gsize cuts[] = { 3, 16, valid_size / 3, valid_size / 2, valid_size - 1 };

  for (guint i = 0; i < G_N_ELEMENTS (cuts); i++) {
    gchar *name = g_strdup_printf ("truncated-%u.rnn", i);
    gchar *path = write_file (name, valid_bytes, cuts[i]);

    /* Past the header, the loader knows the size the file should have. */
    expect_failure (path, name, cuts[i] >= 80 ? "truncated" : NULL);
    g_free (path);
    g_free (name);
  }
}

GST_END_TEST;

GST_START_TEST (test_flipped_byte)
{
  const gsize where[] = { 0, 9, valid_size / 2, valid_size - 2 };

  for (guint i = 0; i < G_N_ELEMENTS (where); i++) {
    gchar *copy = g_memdup2 (valid_bytes, valid_size);
    gchar *name = g_strdup_printf ("flipped-%u.rnn", i);
    gchar *path;

    copy[where[i]] ^= 0x40;
    path = write_file (name, copy, valid_size);
    /* In the first bytes: the magic; in the body: the checksum. */
    expect_failure (path, name, where[i] == 0 ? "magic" : where[i] >= 80 ? "checksum" : NULL);
    g_free (path);
    g_free (name);
    g_free (copy);
  }
}

GST_END_TEST;

GST_START_TEST (test_directory)
{
  gchar *path = g_build_filename (tmpdir, "dir.rnn", NULL);

  fail_unless (g_mkdir (path, 0700) == 0);
  expect_failure (path, "dir.rnn", "not a regular file");
  g_rmdir (path);
  g_free (path);
}

GST_END_TEST;

GST_START_TEST (test_no_model_property)
{
  GstElement *e = gst_element_factory_make ("rnninfer", NULL);
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;

  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY), GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
}

GST_END_TEST;

static Suite *
damaged_suite (void)
{
  Suite *s = suite_create ("damaged_model");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_valid_loads);
  tcase_add_test (tc, test_missing);
  tcase_add_test (tc, test_empty);
  tcase_add_test (tc, test_random_bytes);
  tcase_add_test (tc, test_truncated);
  tcase_add_test (tc, test_flipped_byte);
  tcase_add_test (tc, test_directory);
  tcase_add_test (tc, test_no_model_property);
  return s;
}

static void
remove_tree (const gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  while (d && (name = g_dir_read_name (d))) {
    gchar *p = g_build_filename (dir, name, NULL);

    if (g_unlink (p) != 0)
      g_rmdir (p);
    g_free (p);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  int failed;

  gst_check_init (&argc, &argv);
  g_assert_true (GST_ELEMENT_REGISTER (rnninfer, NULL));
  tmpdir = g_dir_make_tmp ("rnn-damaged-XXXXXX", NULL);
  make_valid_model ();
  failed = gst_check_run_suite (damaged_suite (), "damaged_model", __FILE__);
  remove_tree (tmpdir);
  g_free (tmpdir);
  g_free (valid_bytes);
  return failed;
}
