"""The devices panel: choose the IMU and the camera, connect / disconnect, and each device's
live status (rate, drops, gaps, the clock's change since connect, reconnections).

Choices are device specs (c3t.devices.spec), the same strings `c3t live` takes; the lists
offer the simulator, the serial ports found, BLE devices from a scan, camera indices and a
video file, and any spec can be typed in."""
from __future__ import annotations

from PySide6 import QtCore, QtWidgets

NONE = "(none)"
# specs of phones and network devices (README, Use your phone as the IMU; edit the port or address)
NETWORK_CHOICES = (("tcp:5555", "a phone app (HyperIMU) or a board connects to this computer's port 5555 and sends lines"),
                   ("udp:5555", "a phone app sends lines as UDP datagrams to this computer's port 5555"),
                   ("http:8000", "Sensor Logger's HTTP Push to this computer's port 8000 (add ?token=SECRET)"),
                   ("phyphox:192.168.1.20:8080", "phyphox with remote access on: the address it shows"),
                   ("lsl:type=IMU", "a Lab Streaming Layer IMU stream (pip install 'c3t[lsl]')"))
STATUS_COLUMNS = ("device", "state", "rate Hz", "received", "dropped", "gaps s", "clock Δ s", "connects", "last message")
CLOCK_TIP = ("how far the device's clock has moved against the computer's since connect, in seconds (drift, "
             "jumps); – : the device sends no time of its own, is simulated, or has not been fitted yet")


class DevicesPanel(QtWidgets.QGroupBox):
    """The IMU and camera choice (editable lists of specs) with Connect / Disconnect, and a status table
    of the connected devices. Emits connect_requested(imu spec, camera spec; "" for none),
    disconnect_requested and scan_requested; the main window does the work."""
    connect_requested = QtCore.Signal(str, str)    # imu spec, camera spec ("" for none)
    disconnect_requested = QtCore.Signal()
    scan_requested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__("Devices", parent)
        self.imu = QtWidgets.QComboBox()
        self.imu.setEditable(True)
        self.camera = QtWidgets.QComboBox()
        self.camera.setEditable(True)
        self.refresh_button = QtWidgets.QPushButton("Refresh ports")
        self.scan_button = QtWidgets.QPushButton("Scan BLE")
        self.file_button = QtWidgets.QPushButton("Video file…")
        self.connect_button = QtWidgets.QPushButton("Connect")
        self.disconnect_button = QtWidgets.QPushButton("Disconnect")
        self.disconnect_button.setEnabled(False)
        self.table = QtWidgets.QTableWidget(0, len(STATUS_COLUMNS))
        self.table.setHorizontalHeaderLabels(STATUS_COLUMNS)
        self.table.horizontalHeaderItem(STATUS_COLUMNS.index("clock Δ s")).setToolTip(CLOCK_TIP)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setWordWrap(False)                      # one line per device; long specs elide,
        self.table.setTextElideMode(QtCore.Qt.ElideRight)  # their full text is in the cell's tooltip
        self.table.setColumnWidth(0, 240)
        row = self.table.fontMetrics().height() + 8
        self.table.verticalHeader().setDefaultSectionSize(row)
        self.table.setFixedHeight(self.table.horizontalHeader().sizeHint().height() + 2 * row
                                  + 2 * self.table.frameWidth())   # an IMU and a camera row, whole

        form = QtWidgets.QGridLayout()
        form.addWidget(QtWidgets.QLabel("IMU"), 0, 0)
        form.addWidget(self.imu, 0, 1)
        form.addWidget(self.refresh_button, 0, 2)
        form.addWidget(self.scan_button, 0, 3)
        form.addWidget(QtWidgets.QLabel("Camera"), 1, 0)
        form.addWidget(self.camera, 1, 1)
        form.addWidget(self.file_button, 1, 2)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.connect_button)
        buttons.addWidget(self.disconnect_button)
        form.addLayout(buttons, 1, 3)
        form.setColumnStretch(1, 1)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table)

        self.refresh_button.clicked.connect(self.refresh)
        self.scan_button.clicked.connect(self.scan_requested)
        self.file_button.clicked.connect(self._pick_file)
        self.connect_button.clicked.connect(self._connect)
        self.disconnect_button.clicked.connect(self.disconnect_requested)
        self.refresh()

    # -- choices ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """List the simulator, serial ports, the phone and network forms and (without opening them)
        camera device nodes."""
        import glob

        from c3t.devices.discovery import list_serial_ports

        imu, camera = self.imu.currentText(), self.camera.currentText()
        self.imu.clear()
        self.imu.addItem("sim")
        for port, what in list_serial_ports():
            self.imu.addItem(f"serial:{port}", what)
        for spec, what in NETWORK_CHOICES:
            self.imu.addItem(spec, what)
        self.camera.clear()
        self.camera.addItems(["sim", NONE])
        for node in sorted(glob.glob("/dev/video*")):
            if node[len("/dev/video"):].isdigit():
                self.camera.addItem(f"camera:{node[len('/dev/video'):]}")
        if not glob.glob("/dev/video*"):
            self.camera.addItem("camera:0")
        self.set_choice(imu or "sim", camera or "sim")

    def add_ble(self, devices) -> None:
        """Add the BLE devices a scan found (recognised profiles first) to the IMU list."""
        for d in sorted(devices, key=lambda d: d.profile is None):
            label = d.spec
            if self.imu.findText(label) < 0:
                self.imu.addItem(label, f"{d.name or '?'} rssi {d.rssi} profile {d.profile or 'not recognised'}")
        if devices:
            self.imu.setCurrentText(sorted(devices, key=lambda d: d.profile is None)[0].spec)

    def set_choice(self, imu: str, camera: str) -> None:
        """Show these specs in the IMU and camera lists (an empty camera: "(none)")."""
        self.imu.setCurrentText(imu)
        self.camera.setCurrentText(camera or NONE)

    def choice(self) -> tuple[str, str]:
        """The chosen (imu spec, camera spec), each "" for none."""
        imu = self.imu.currentText().strip()
        camera = self.camera.currentText().strip()
        return ("" if imu == NONE else imu), ("" if camera == NONE else camera)

    def _pick_file(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Video file as the camera", "",
                                                        "Video (*.avi *.mp4 *.mkv *.mov);;All files (*)")
        if path:
            self.camera.setCurrentText(f"camera:{path}")

    def _connect(self) -> None:
        self.connect_requested.emit(*self.choice())

    def set_connected(self, connected: bool) -> None:
        """Say Reconnect instead of Connect, and allow Disconnect, while devices are connected."""
        self.connect_button.setText("Reconnect" if connected else "Connect")
        self.disconnect_button.setEnabled(connected)

    def set_busy(self, busy: bool) -> None:
        """Disable Connect, Scan BLE and Refresh ports while a connect or scan is under way."""
        for w in (self.connect_button, self.scan_button, self.refresh_button):
            w.setEnabled(not busy)

    # -- status -----------------------------------------------------------------------------
    def show_status(self, devices: dict) -> None:
        """Show one table row per device: state, rate in Hz (measured / nominal), received, dropped,
        gaps in seconds, the clock offset's change since connect in seconds, connects, and the warning or
        last error."""
        rows = list(devices.values())
        self.table.setRowCount(len(rows))
        for r, d in enumerate(rows):
            rate = f"{d.measured_hz:.1f}" + (f" / {d.nominal_hz:g}" if d.nominal_hz else "")
            offset = "–" if d.clock_change_s is None else f"{d.clock_change_s:+.3f}"
            state = d.state if d.state != "reconnecting" else "reconnecting…"
            values = (f"{d.role}: {d.spec}", state, rate, str(d.received), str(d.dropped), f"{d.gap_s:.2f}",
                      offset, str(d.connects), d.warning or d.last_error or "")
            for c, v in enumerate(values):
                item = self.table.item(r, c)
                if item is None:
                    item = QtWidgets.QTableWidgetItem(v)
                    self.table.setItem(r, c, item)
                elif item.text() != v:
                    item.setText(v)
                else:
                    continue
                item.setToolTip(v if c in (0, len(values) - 1) else "")   # the spec and the message in full
