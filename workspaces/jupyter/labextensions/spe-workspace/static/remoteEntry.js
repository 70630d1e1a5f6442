/*
 * spe's JupyterLab plugin: a lab whose server is gone reloads, instead of asking "Server
 * unavailable or unreachable... restart it?".
 *
 * In spe a researcher's server goes when she loses access: the permit is suspended or
 * halted, or an amendment removes her. The reason is on spe's page, and reloading the lab's
 * own address leads there: a suspended workspace's address sends browsers to it, and the
 * hub's login, refused, shows it. Re-added, or her server only culled for idleness, the same
 * reload brings her lab back (the hub starts her server). JupyterHub's dialog, disabled by
 * this extension's package.json, only offered to restart a server she may no longer have.
 *
 * Written by hand as the module-federation container JupyterLab loads
 * (window._JUPYTERLAB[name], with init and get): it shares no module with JupyterLab, so
 * it needs no build step. It reads the lab's server address and connection-failure signal
 * from the application object, and nothing else.
 */
(function () {
  "use strict";

  var NAME = "spe-workspace";
  var PROBES = 3; // the server's own address must fail this many times in a row
  var PROBE_INTERVAL_MS = 2000;
  var RELOAD_GUARD_MS = 60000; // at most one automatic reload a minute
  var ADDRESS_WAIT_MS = 60000; // how long to wait for the address to answer at all
  var RELOADED_AT = "spe-workspace:reloaded-at";

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  async function answers(url) {
    try {
      var response = await fetch(url, {
        cache: "no-store", credentials: "same-origin", redirect: "manual"
      });
      return response.ok; // a redirect (to the hub, to spe's page) is not an answer
    } catch (err) {
      return false;
    }
  }

  async function gone(url) {
    for (var i = 0; i < PROBES; i++) {
      if (await answers(url)) {
        return false; // a passing failure: the server is there
      }
      await sleep(PROBE_INTERVAL_MS);
    }
    return true;
  }

  async function reachable(url) {
    try {
      var response = await fetch(url, {
        cache: "no-store", credentials: "same-origin", redirect: "manual"
      });
      // the hub answering, or the closed page's redirect to spe's page; not an ingress's
      // 503 while the hub restarts after an amendment (reloading onto it shows no reason)
      return response.ok || response.type === "opaqueredirect";
    } catch (err) {
      return false; // nothing listens (the local hub restarting)
    }
  }

  async function addressAnswers(url) {
    var deadline = Date.now() + ADDRESS_WAIT_MS;
    while (!(await reachable(url)) && Date.now() < deadline) {
      await sleep(PROBE_INTERVAL_MS);
    }
  }

  function reloadedRecently() {
    var at = Number(window.sessionStorage.getItem(RELOADED_AT) || 0);
    return Date.now() - at < RELOAD_GUARD_MS;
  }

  function notice() {
    if (document.getElementById("spe-server-gone")) {
      return;
    }
    var note = document.createElement("div");
    note.id = "spe-server-gone";
    note.setAttribute("role", "alert");
    note.textContent = "This workspace's server does not answer. Reload the page to see why.";
    note.style.cssText = "position:fixed;top:0;left:0;right:0;z-index:10000;padding:8px;" +
      "background:#fff3cd;color:#1a1a1a;font:14px sans-serif;text-align:center";
    document.body.appendChild(note);
  }

  var plugin = {
    id: NAME + ":server-gone",
    description: "Reloads a lab whose server is gone, so that spe's page says why.",
    autoStart: true,
    activate: function (app) {
      var probe = app.serviceManager.serverSettings.baseUrl.replace(/\/?$/, "/") + "api";
      var hub = ((app.paths && app.paths.urls.hubPrefix) || "/hub/").replace(/\/?$/, "/");
      var busy = false;
      app.serviceManager.connectionFailure.connect(async function () {
        if (busy) {
          return;
        }
        busy = true;
        try {
          if (!(await gone(probe))) {
            return;
          }
          if (reloadedRecently()) {
            notice(); // reloaded a minute ago and gone again: say so, never loop
            return;
          }
          await addressAnswers(hub + "health"); // reloading onto no answer shows nothing
          window.sessionStorage.setItem(RELOADED_AT, String(Date.now()));
          window.location.reload();
        } finally {
          busy = false;
        }
      });
    }
  };

  var container = {
    init: function () { return Promise.resolve(); }, // no shared module to offer or take
    get: function (module) {
      if (module !== "./extension") {
        return Promise.reject(new Error(NAME + " has no module " + module));
      }
      return Promise.resolve(function () { return {__esModule: true, "default": plugin}; });
    }
  };
  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = container;
})();
