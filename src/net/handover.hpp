// Upgrades without a dropped connection: the running process hands its listening sockets to a
// new one (a new binary or a new config), as nginx and HAProxy do, instead of the new process
// binding its own. A listening socket closed while connections wait in its queue resets them
// (Linux, SO_REUSEPORT included); a socket handed over never closes, so nothing queued is lost.
//
//   old: SIGUSR2 → spawn_successor(): fork + exec of the same binary path and arguments, with
//        every listening socket inherited and named in SHEPHERD_LISTEN_FDS
//        ("server.listen=3,4;server.ui_listen=5"), and the write end of a pipe in
//        SHEPHERD_UPGRADE_FD.
//   new: adopt_inherited() at start; open_acceptors() takes the inherited sockets of a setting
//        instead of binding; once every listener accepts, report_ready() writes to the pipe.
//   old: a byte on the pipe: it stops accepting and drains its requests, streams included, then
//        exits. End of file without a byte: the new process failed; the old one goes on.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/asio.hpp"

namespace shepherd::net {

// Reads SHEPHERD_LISTEN_FDS and SHEPHERD_UPGRADE_FD (then removes them from the environment).
// Call once at start, before any listener opens.
void adopt_inherited();
// Whether this process was started by an upgrade.
bool inherited_any();

// The listening sockets for `setting` on `endpoint`, one per io_context of `contexts` (the
// acceptor of context i is the i-th): the sockets a predecessor handed over for `setting` when
// its address matches (any port when `endpoint`'s is 0), then fresh SO_REUSEPORT sockets for the
// contexts left. More inherited sockets than contexts: the extra ones go round-robin to the
// contexts (each may hold queued connections, so each is accepted from). Every socket returned
// is registered for the next handover. Throws boost::system::system_error.
std::vector<std::pair<std::size_t, Acceptor>> open_acceptors(
    const std::vector<asio::io_context*>& contexts, const tcp::endpoint& endpoint,
    std::string_view setting);
// Forgets a listening socket (before it closes) so a later handover does not pass it on.
void unregister_listener(int fd);

// Spawns the successor: the binary at the path this process started from, with its arguments,
// inheriting every registered listening socket, and `extra_env` ("NAME=value") added to its
// environment. Returns the child's pid and the read end of the readiness pipe (close-on-exec),
// or an error message.
struct Successor {
  pid_t pid = -1;
  int ready_fd = -1;
};
std::optional<Successor> spawn_successor(std::string& error,
                                         const std::vector<std::string>& extra_env = {});

// Tells the predecessor, if any, that this process serves: it may stop accepting and drain.
void report_ready();

// Remembers argv and the binary's path for spawn_successor(). Call first thing in main().
void remember_command_line(int argc, char** argv);

// systemd's notification protocol (sd_notify), when NOTIFY_SOCKET is set: "READY=1",
// "STOPPING=1", "MAINPID=<pid>", "RELOADING=1". Does nothing otherwise.
void notify_service_manager(std::string_view state);

}  // namespace shepherd::net
