/* A stand-in for systemd's D-Bus API, for the --restart-unit test: on the
 * bus given as argv[1] (a private dbus-daemon's address) it takes the name
 * org.freedesktop.systemd1 and answers
 * org.freedesktop.systemd1.Manager.RestartUnit(ss) -> o on
 * /org/freedesktop/systemd1, appending "RestartUnit <unit> <mode>" to the
 * file argv[2] for each call. It prints "ready" once the name is taken and
 * runs until it is killed or argv[3] seconds have passed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <systemd/sd-bus.h>

static const char *log_path;
static unsigned jobs;

static int restart_unit(sd_bus_message *m, void *userdata, sd_bus_error *ret_error)
{
        (void) userdata;
        (void) ret_error;
        const char *unit = NULL, *mode = NULL;
        int r = sd_bus_message_read(m, "ss", &unit, &mode);
        if (r < 0)
                return r;
        FILE *f = fopen(log_path, "ae");
        if (f) {
                fprintf(f, "RestartUnit %s %s\n", unit, mode);
                fclose(f);
        }
        char job[64];
        snprintf(job, sizeof(job), "/org/freedesktop/systemd1/job/%u", ++jobs);
        return sd_bus_reply_method_return(m, "o", job);
}

static const sd_bus_vtable manager[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("RestartUnit", "ss", "o", restart_unit, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int main(int argc, char **argv)
{
        if (argc != 4) {
                fprintf(stderr, "usage: fake-systemd BUS-ADDRESS LOG-FILE SECONDS\n");
                return 2;
        }
        log_path = argv[2];
        time_t until = time(NULL) + atoi(argv[3]);
        sd_bus *bus = NULL;
        sd_bus_slot *slot = NULL;
        int r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, argv[1]);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, 1);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, &slot, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                             manager, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, "org.freedesktop.systemd1", 0);
        if (r < 0) {
                fprintf(stderr, "fake-systemd: %s\n", strerror(-r));
                return 1;
        }
        printf("ready\n");
        fflush(stdout);
        while (time(NULL) < until) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;
                if (r == 0)
                        sd_bus_wait(bus, 500 * 1000);
        }
        sd_bus_slot_unref(slot);
        sd_bus_flush_close_unref(bus);
        return 0;
}
