/* gst-rnn: models loaded once per file and shared by every element instance.
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * One process-wide table (the only shared state of the plugin) maps a model file's canonical path
 * to the model loaded from it and the identity of the file it was loaded from (device, inode, size,
 * modification time). A lookup whose file no longer has that identity (rewritten, e.g. by rnntrain's
 * atomic save) loads the file anew and replaces the entry; elements that hold the old model keep
 * their own reference to it.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rnnmodelcache.h"

G_DEFINE_QUARK (gst-rnn-error-quark, gst_rnn_error);

typedef struct
{
  dev_t dev;
  ino_t ino;
  off_t size;
  gint64 mtime_ns;
  rnn_model *model;             /* the cache's reference */
} CacheEntry;

static GMutex cache_lock;
static GHashTable *cache;       /* canonical path -> CacheEntry */

static void
cache_entry_free (gpointer data)
{
  CacheEntry *e = data;

  rnn_model_unref (e->model);
  g_free (e);
}

static gint64
stat_mtime_ns (const struct stat *st)
{
  return (gint64) st->st_mtim.tv_sec * G_GINT64_CONSTANT (1000000000) + st->st_mtim.tv_nsec;
}

rnn_model *
gst_rnn_model_cache_get (const gchar * path, GError ** error)
{
  struct stat st;
  char *canonical;
  CacheEntry *e;
  rnn_model *model;
  char err[512];

  if (path == NULL || *path == '\0') {
    g_set_error (error, GST_RNN_ERROR, GST_RNN_ERROR_MODEL,
        "no model file given (set the model property)");
    return NULL;
  }
  canonical = realpath (path, NULL);
  if (canonical == NULL || stat (canonical, &st) != 0) {
    int errsv = errno;

    g_set_error (error, GST_RNN_ERROR, GST_RNN_ERROR_MODEL, "cannot load model '%s': %s",
        path, g_strerror (errsv));
    free (canonical);
    return NULL;
  }
  if (!S_ISREG (st.st_mode)) {
    g_set_error (error, GST_RNN_ERROR, GST_RNN_ERROR_MODEL,
        "cannot load model '%s': not a regular file", path);
    free (canonical);
    return NULL;
  }

  g_mutex_lock (&cache_lock);
  if (cache == NULL)
    cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, cache_entry_free);

  e = g_hash_table_lookup (cache, canonical);
  if (e && e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size
      && e->mtime_ns == stat_mtime_ns (&st)) {
    model = rnn_model_ref (e->model);
    g_mutex_unlock (&cache_lock);
    free (canonical);
    return model;
  }

  /* Loading under the lock: two elements asking for the same new file load it once. */
  err[0] = '\0';
  model = rnn_model_load (canonical, err, sizeof (err));
  if (model == NULL) {
    const char *problem = err[0] ? err : "unknown error";
    size_t n = strlen (canonical);

    /* The loader names the file it was given (the canonical path); ours names it already, as
     * the user wrote it. */
    if (strncmp (problem, canonical, n) == 0 && strncmp (problem + n, ": ", 2) == 0)
      problem += n + 2;
    g_mutex_unlock (&cache_lock);
    g_set_error (error, GST_RNN_ERROR, GST_RNN_ERROR_MODEL, "cannot load model '%s': %s",
        path, problem);
    free (canonical);
    return NULL;
  }
  e = g_new0 (CacheEntry, 1);
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  e->size = st.st_size;
  e->mtime_ns = stat_mtime_ns (&st);
  e->model = rnn_model_ref (model);
  /* Replaces (and unrefs) an entry for an older version of the file. */
  g_hash_table_insert (cache, g_strdup (canonical), e);
  g_mutex_unlock (&cache_lock);
  free (canonical);
  return model;
}
