"""PS3.15 Table E.1-1 with its option columns, as data: what each profile option does to each attribute.

`detectors/dicom_tags.py` holds the Basic Profile column (what the detector reports); the de-identifier also needs
the option columns. Generated from innolitics/dicom-standard `standard/confidentiality_profile_attributes.json`
(commit 0d01bf11dfc1d0b73b6df85bbf6e1764d3c558a3, itself extracted from the standard's DocBook; the DICOM
standard text is free to use). Repeating groups (50xx Curve Data, 60xx Overlay Data/Comments) and private
attributes are handled by rule in `dicom.py`.

Option column codes (third field, space separated; letter = option, then the action it gives):
F Retain Longitudinal Temporal Information Full Dates (K), M ... Modified Dates (C), P Retain Patient
Characteristics (K/C), V Retain Device Identity (K/C), I Retain Institution Identity (K), U Retain UIDs (K),
S Clean Descriptors (C), T Clean Structured Content (C), G Clean Graphics (C).
"""

from __future__ import annotations

from typing import Final

# (tag, Basic Profile action, option actions)
TABLE_E1_1: Final[tuple[tuple[int, str, str], ...]] = (
    (0x00001000, "X", "UK"),  # AffectedSOPInstanceUID
    (0x00001001, "U", "UK"),  # RequestedSOPInstanceUID
    (0x00020003, "U", "UK"),  # MediaStorageSOPInstanceUID
    (0x00041511, "U", "UK"),  # ReferencedSOPInstanceUIDInFile
    (0x00080012, "X/D", "FK MC"),  # InstanceCreationDate
    (0x00080013, "X/Z/D", "FK MC"),  # InstanceCreationTime
    (0x00080014, "U", "UK"),  # InstanceCreatorUID
    (0x00080015, "X", "FK MC"),  # InstanceCoercionDateTime
    (0x00080017, "U", "UK"),  # AcquisitionUID
    (0x00080018, "U", "UK"),  # SOPInstanceUID
    (0x00080019, "U", "UK"),  # PyramidUID
    (0x00080020, "Z", "FK MC"),  # StudyDate
    (0x00080021, "X/D", "FK MC"),  # SeriesDate
    (0x00080022, "X/Z", "FK MC"),  # AcquisitionDate
    (0x00080023, "Z/D", "FK MC"),  # ContentDate
    (0x00080024, "X", "FK MC"),  # OverlayDate
    (0x00080025, "X", "FK MC"),  # CurveDate
    (0x0008002A, "X/Z/D", "FK MC"),  # AcquisitionDateTime
    (0x00080030, "Z", "FK MC"),  # StudyTime
    (0x00080031, "X/D", "FK MC"),  # SeriesTime
    (0x00080032, "X/Z", "FK MC"),  # AcquisitionTime
    (0x00080033, "Z/D", "FK MC"),  # ContentTime
    (0x00080034, "X", "FK MC"),  # OverlayTime
    (0x00080035, "X", "FK MC"),  # CurveTime
    (0x00080050, "Z", ""),  # AccessionNumber
    (0x00080054, "X", "VC"),  # RetrieveAETitle
    (0x00080055, "X", "VC"),  # StationAETitle
    (0x00080058, "U", "UK"),  # FailedSOPInstanceUIDList
    (0x00080080, "X/Z/D", "IK"),  # InstitutionName
    (0x00080081, "X", "IK"),  # InstitutionAddress
    (0x00080082, "X/Z/D", "IK"),  # InstitutionCodeSequence
    (0x00080090, "Z", ""),  # ReferringPhysicianName
    (0x00080092, "X", ""),  # ReferringPhysicianAddress
    (0x00080094, "X", ""),  # ReferringPhysicianTelephoneNumbers
    (0x00080096, "X", ""),  # ReferringPhysicianIdentificationSequence
    (0x0008009C, "Z", ""),  # ConsultingPhysicianName
    (0x0008009D, "X", ""),  # ConsultingPhysicianIdentificationSequence
    (0x00080106, "D", "FK MC"),  # ContextGroupVersion
    (0x00080107, "D", "FK MC"),  # ContextGroupLocalVersion
    (0x00080201, "X", "FK MC"),  # TimezoneOffsetFromUTC
    (0x00081000, "X", "VC"),  # NetworkID
    (0x00081010, "X/Z/D", "VK"),  # StationName
    (0x00081030, "X", "SC"),  # StudyDescription
    (0x0008103E, "X", "SC"),  # SeriesDescription
    (0x00081040, "X", "IK"),  # InstitutionalDepartmentName
    (0x00081041, "X", "IK"),  # InstitutionalDepartmentTypeCodeSequence
    (0x00081048, "X", ""),  # PhysiciansOfRecord
    (0x00081049, "X", ""),  # PhysiciansOfRecordIdentificationSequence
    (0x00081050, "X", ""),  # PerformingPhysicianName
    (0x00081052, "X", ""),  # PerformingPhysicianIdentificationSequence
    (0x00081060, "X", ""),  # NameOfPhysiciansReadingStudy
    (0x00081062, "X", ""),  # PhysiciansReadingStudyIdentificationSequence
    (0x00081070, "X/Z/D", ""),  # OperatorsName
    (0x00081072, "X/D", ""),  # OperatorIdentificationSequence
    (0x00081080, "X", "SC"),  # AdmittingDiagnosesDescription
    (0x00081084, "X", "SC"),  # AdmittingDiagnosesCodeSequence
    (0x00081088, "X", "SC"),  # PyramidDescription
    (0x00081110, "X/Z", "UK"),  # ReferencedStudySequence
    (0x00081111, "X/Z/D", "UK"),  # ReferencedPerformedProcedureStepSequence
    (0x00081120, "X", "UK"),  # ReferencedPatientSequence
    (0x00081140, "X/Z/U*", "UK"),  # ReferencedImageSequence
    (0x00081155, "U", "UK"),  # ReferencedSOPInstanceUID
    (0x00081195, "U", "UK"),  # TransactionUID
    (0x00082111, "X", "SC"),  # DerivationDescription
    (0x00082112, "X/Z/U*", "UK"),  # SourceImageSequence
    (0x00083010, "U", "UK"),  # IrradiationEventUID
    (0x00084000, "X", "SC"),  # IdentifyingComments
    (0x00100010, "Z", ""),  # PatientName
    (0x00100020, "Z/D", ""),  # PatientID
    (0x00100021, "X", ""),  # IssuerOfPatientID
    (0x00100030, "Z", ""),  # PatientBirthDate
    (0x00100032, "X", ""),  # PatientBirthTime
    (0x00100040, "Z", "PK"),  # PatientSex
    (0x00100050, "X", ""),  # PatientInsurancePlanCodeSequence
    (0x00100101, "X", ""),  # PatientPrimaryLanguageCodeSequence
    (0x00100102, "X", ""),  # PatientPrimaryLanguageModifierCodeSequence
    (0x00101000, "X", ""),  # OtherPatientIDs
    (0x00101001, "X", ""),  # OtherPatientNames
    (0x00101002, "X", ""),  # OtherPatientIDsSequence
    (0x00101005, "X", ""),  # PatientBirthName
    (0x00101010, "X", "PK"),  # PatientAge
    (0x00101020, "X", "PK"),  # PatientSize
    (0x00101030, "X", "PK"),  # PatientWeight
    (0x00101040, "X", ""),  # PatientAddress
    (0x00101050, "X", ""),  # InsurancePlanIdentification
    (0x00101060, "X", ""),  # PatientMotherBirthName
    (0x00101080, "X", ""),  # MilitaryRank
    (0x00101081, "X", ""),  # BranchOfService
    (0x00101090, "X", ""),  # MedicalRecordLocator
    (0x00101100, "X", ""),  # ReferencedPatientPhotoSequence
    (0x00102000, "X", "SC"),  # MedicalAlerts
    (0x00102110, "X", "PC SC"),  # Allergies
    (0x00102150, "X", ""),  # CountryOfResidence
    (0x00102152, "X", ""),  # RegionOfResidence
    (0x00102154, "X", ""),  # PatientTelephoneNumbers
    (0x00102155, "X", ""),  # PatientTelecomInformation
    (0x00102160, "X", "PK"),  # EthnicGroup
    (0x00102180, "X", "SC"),  # Occupation
    (0x001021A0, "X", "PK"),  # SmokingStatus
    (0x001021B0, "X", "SC"),  # AdditionalPatientHistory
    (0x001021C0, "X", "PK"),  # PregnancyStatus
    (0x001021D0, "X", "FK MC"),  # LastMenstrualDate
    (0x001021F0, "X", ""),  # PatientReligiousPreference
    (0x00102203, "X/Z", "PK"),  # PatientSexNeutered
    (0x00102297, "X", ""),  # ResponsiblePerson
    (0x00102299, "X", ""),  # ResponsibleOrganization
    (0x00104000, "X", "SC"),  # PatientComments
    (0x00120010, "D", ""),  # ClinicalTrialSponsorName
    (0x00120020, "D", ""),  # ClinicalTrialProtocolID
    (0x00120021, "Z", ""),  # ClinicalTrialProtocolName
    (0x00120022, "X", ""),  # IssuerOfClinicalTrialProtocolID
    (0x00120023, "X", ""),  # OtherClinicalTrialProtocolIDsSequence
    (0x00120030, "Z", "IK"),  # ClinicalTrialSiteID
    (0x00120031, "Z", "IK"),  # ClinicalTrialSiteName
    (0x00120032, "X", ""),  # IssuerOfClinicalTrialSiteID
    (0x00120040, "D", ""),  # ClinicalTrialSubjectID
    (0x00120041, "X", ""),  # IssuerOfClinicalTrialSubjectID
    (0x00120042, "D", ""),  # ClinicalTrialSubjectReadingID
    (0x00120043, "X", ""),  # IssuerOfClinicalTrialSubjectReadingID
    (0x00120050, "Z", ""),  # ClinicalTrialTimePointID
    (0x00120051, "X", "SC"),  # ClinicalTrialTimePointDescription
    (0x00120055, "X", ""),  # IssuerOfClinicalTrialTimePointID
    (0x00120060, "Z", "IK"),  # ClinicalTrialCoordinatingCenterName
    (0x00120071, "X", ""),  # ClinicalTrialSeriesID
    (0x00120072, "X", "SC"),  # ClinicalTrialSeriesDescription
    (0x00120073, "X", ""),  # IssuerOfClinicalTrialSeriesID
    (0x00120081, "D", "IK"),  # ClinicalTrialProtocolEthicsCommitteeName
    (0x00120082, "X", ""),  # ClinicalTrialProtocolEthicsCommitteeApprovalNumber
    (0x00120086, "X", "FK MC"),  # EthicsCommitteeApprovalEffectivenessStartDate
    (0x00120087, "X", "FK MC"),  # EthicsCommitteeApprovalEffectivenessEndDate
    (0x0014407C, "X", "VK FK MC"),  # CalibrationTime
    (0x0014407E, "X", "VK FK MC"),  # CalibrationDate
    (0x0016002B, "X", "SC"),  # MakerNote
    (0x0016004B, "X", "SC"),  # DeviceSettingDescription
    (0x0016004D, "X", ""),  # CameraOwnerName
    (0x0016004E, "X", "VK"),  # LensSpecification
    (0x0016004F, "X", "VK"),  # LensMake
    (0x00160050, "X", "VK"),  # LensModel
    (0x00160051, "X", "VK"),  # LensSerialNumber
    (0x00160070, "X", ""),  # GPSVersionID
    (0x00160071, "X", ""),  # GPSLatitudeRef
    (0x00160072, "X", ""),  # GPSLatitude
    (0x00160073, "X", ""),  # GPSLongitudeRef
    (0x00160074, "X", ""),  # GPSLongitude
    (0x00160075, "X", ""),  # GPSAltitudeRef
    (0x00160076, "X", ""),  # GPSAltitude
    (0x00160077, "X", ""),  # GPSTimeStamp
    (0x00160078, "X", ""),  # GPSSatellites
    (0x00160079, "X", ""),  # GPSStatus
    (0x0016007A, "X", ""),  # GPSMeasureMode
    (0x0016007B, "X", ""),  # GPSDOP
    (0x0016007C, "X", ""),  # GPSSpeedRef
    (0x0016007D, "X", ""),  # GPSSpeed
    (0x0016007E, "X", ""),  # GPSTrackRef
    (0x0016007F, "X", ""),  # GPSTrack
    (0x00160080, "X", ""),  # GPSImgDirectionRef
    (0x00160081, "X", ""),  # GPSImgDirection
    (0x00160082, "X", ""),  # GPSMapDatum
    (0x00160083, "X", ""),  # GPSDestLatitudeRef
    (0x00160084, "X", ""),  # GPSDestLatitude
    (0x00160085, "X", ""),  # GPSDestLongitudeRef
    (0x00160086, "X", ""),  # GPSDestLongitude
    (0x00160087, "X", ""),  # GPSDestBearingRef
    (0x00160088, "X", ""),  # GPSDestBearing
    (0x00160089, "X", ""),  # GPSDestDistanceRef
    (0x0016008A, "X", ""),  # GPSDestDistance
    (0x0016008B, "X", ""),  # GPSProcessingMethod
    (0x0016008C, "X", ""),  # GPSAreaInformation
    (0x0016008D, "X", "FK MC"),  # GPSDateStamp
    (0x0016008E, "X", ""),  # GPSDifferential
    (0x00180010, "Z/D", "SC"),  # ContrastBolusAgent
    (0x00180027, "X", "FK MC"),  # InterventionDrugStopTime
    (0x00180035, "X", "FK MC"),  # InterventionDrugStartTime
    (0x00181000, "X/Z/D", "VK"),  # DeviceSerialNumber
    (0x00181002, "U", "UK VK"),  # DeviceUID
    (0x00181004, "X", "VK"),  # PlateID
    (0x00181005, "X", "VK"),  # GeneratorID
    (0x00181007, "X", "VK"),  # CassetteID
    (0x00181008, "X", "VK"),  # GantryID
    (0x00181009, "X", "VK"),  # UniqueDeviceIdentifier
    (0x0018100A, "X", "VK"),  # UDISequence
    (0x0018100B, "U", "UK VK"),  # ManufacturerDeviceClassUID
    (0x00181012, "X", "FK MC"),  # DateOfSecondaryCapture
    (0x00181014, "X", "FK MC"),  # TimeOfSecondaryCapture
    (0x00181030, "X/D", "SC"),  # ProtocolName
    (0x00181042, "X", "FK MC"),  # ContrastBolusStartTime
    (0x00181043, "X", "FK MC"),  # ContrastBolusStopTime
    (0x00181072, "X", "FK MC"),  # RadiopharmaceuticalStartTime
    (0x00181073, "X", "FK MC"),  # RadiopharmaceuticalStopTime
    (0x00181078, "X", "FK MC"),  # RadiopharmaceuticalStartDateTime
    (0x00181079, "X", "FK MC"),  # RadiopharmaceuticalStopDateTime
    (0x001811BB, "D", "SC"),  # AcquisitionFieldOfViewLabel
    (0x00181200, "X", "VK FK MC"),  # DateOfLastCalibration
    (0x00181201, "X", "VK FK MC"),  # TimeOfLastCalibration
    (0x00181202, "X", "VK FK MC"),  # DateTimeOfLastCalibration
    (0x00181203, "Z", "VK FK MC"),  # CalibrationDateTime
    (0x00181204, "X", "VK FK MC"),  # DateOfManufacture
    (0x00181205, "X", "VK FK MC"),  # DateOfInstallation
    (0x00181400, "X/D", "SC"),  # AcquisitionDeviceProcessingDescription
    (0x00182042, "U", "UK"),  # TargetUID
    (0x00184000, "X", "SC"),  # AcquisitionComments
    (0x00185011, "X", "VK"),  # TransducerIdentificationSequence
    (0x0018700A, "X/D", "VK"),  # DetectorID
    (0x0018700C, "X/D", "VK FK MC"),  # DateOfLastDetectorCalibration
    (0x0018700E, "X/D", "VK FK MC"),  # TimeOfLastDetectorCalibration
    (0x00189074, "D", "FK MC"),  # FrameAcquisitionDateTime
    (0x00189151, "D", "FK MC"),  # FrameReferenceDateTime
    (0x00189185, "X", "SC"),  # RespiratoryMotionCompensationTechniqueDescription
    (0x00189367, "D", "VK"),  # XRaySourceID
    (0x00189369, "D", "FK MC"),  # SourceStartDateTime
    (0x0018936A, "D", "FK MC"),  # SourceEndDateTime
    (0x00189371, "D", "VK"),  # XRayDetectorID
    (0x00189373, "X", "VK"),  # XRayDetectorLabel
    (0x0018937B, "X", "SC"),  # MultienergyAcquisitionDescription
    (0x0018937F, "X", "SC"),  # DecompositionDescription
    (0x00189424, "X", "SC"),  # AcquisitionProtocolDescription
    (0x00189516, "X/D", "FK MC"),  # StartAcquisitionDateTime
    (0x00189517, "X/D", "FK MC"),  # EndAcquisitionDateTime
    (0x00189623, "D", "FK MC"),  # FunctionalSyncPulse
    (0x00189701, "D", "FK MC"),  # DecayCorrectionDateTime
    (0x00189804, "D", "FK MC"),  # ExclusionStartDateTime
    (0x00189919, "Z/D", "FK MC"),  # InstructionPerformedDateTime
    (0x00189937, "X", "SC"),  # RequestedSeriesDescription
    (0x0018A002, "X", "FK MC"),  # ContributionDateTime
    (0x0018A003, "X", "SC"),  # ContributionDescription
    (0x0020000D, "U", "UK"),  # StudyInstanceUID
    (0x0020000E, "U", "UK"),  # SeriesInstanceUID
    (0x00200010, "Z", ""),  # StudyID
    (0x00200027, "X", "SC"),  # PyramidLabel
    (0x00200052, "U", "UK"),  # FrameOfReferenceUID
    (0x00200200, "U", "UK"),  # SynchronizationFrameOfReferenceUID
    (0x00203401, "X", "VK"),  # ModifyingDeviceID
    (0x00203403, "X", "FK MC"),  # ModifiedImageDate
    (0x00203405, "X", "FK MC"),  # ModifiedImageTime
    (0x00203406, "X", ""),  # ModifiedImageDescription
    (0x00204000, "X", "SC"),  # ImageComments
    (0x00209158, "X", "SC"),  # FrameComments
    (0x00209161, "U", "UK"),  # ConcatenationUID
    (0x00209164, "U", "UK"),  # DimensionOrganizationUID
    (0x00281199, "U", "UK"),  # PaletteColorLookupTableUID
    (0x00281214, "U", "UK"),  # LargePaletteColorLookupTableUID
    (0x00284000, "X", ""),  # ImagePresentationComments
    (0x00320012, "X", ""),  # StudyIDIssuer
    (0x00320032, "X", "FK MC"),  # StudyVerifiedDate
    (0x00320033, "X", "FK MC"),  # StudyVerifiedTime
    (0x00320034, "X", "FK MC"),  # StudyReadDate
    (0x00320035, "X", "FK MC"),  # StudyReadTime
    (0x00321000, "X", "FK MC"),  # ScheduledStudyStartDate
    (0x00321001, "X", "FK MC"),  # ScheduledStudyStartTime
    (0x00321010, "X", "FK MC"),  # ScheduledStudyStopDate
    (0x00321011, "X", "FK MC"),  # ScheduledStudyStopTime
    (0x00321020, "X", "VK"),  # ScheduledStudyLocation
    (0x00321021, "X", "VC"),  # ScheduledStudyLocationAETitle
    (0x00321030, "X", "SC"),  # ReasonForStudy
    (0x00321032, "X", ""),  # RequestingPhysician
    (0x00321033, "X", ""),  # RequestingService
    (0x00321040, "X", "FK MC"),  # StudyArrivalDate
    (0x00321041, "X", "FK MC"),  # StudyArrivalTime
    (0x00321050, "X", "FK MC"),  # StudyCompletionDate
    (0x00321051, "X", "FK MC"),  # StudyCompletionTime
    (0x00321060, "X/Z", "SC"),  # RequestedProcedureDescription
    (0x00321066, "X", "SC"),  # ReasonForVisit
    (0x00321067, "X", "SC"),  # ReasonForVisitCodeSequence
    (0x00321070, "X", "SC"),  # RequestedContrastAgent
    (0x00324000, "X", "SC"),  # StudyComments
    (0x00340001, "D", ""),  # FlowIdentifierSequence
    (0x00340002, "D", ""),  # FlowIdentifier
    (0x00340005, "D", ""),  # SourceIdentifier
    (0x00340007, "D", "FK MC"),  # FrameOriginTimestamp
    (0x00380004, "X", ""),  # ReferencedPatientAliasSequence
    (0x00380010, "X", ""),  # AdmissionID
    (0x00380011, "X", ""),  # IssuerOfAdmissionID
    (0x00380014, "X", ""),  # IssuerOfAdmissionIDSequence
    (0x0038001A, "X", "FK MC"),  # ScheduledAdmissionDate
    (0x0038001B, "X", "FK MC"),  # ScheduledAdmissionTime
    (0x0038001C, "X", "FK MC"),  # ScheduledDischargeDate
    (0x0038001D, "X", "FK MC"),  # ScheduledDischargeTime
    (0x0038001E, "X", ""),  # ScheduledPatientInstitutionResidence
    (0x00380020, "X", "FK MC"),  # AdmittingDate
    (0x00380021, "X", "FK MC"),  # AdmittingTime
    (0x00380030, "X", "FK MC"),  # DischargeDate
    (0x00380032, "X", "FK MC"),  # DischargeTime
    (0x00380040, "X", "SC"),  # DischargeDiagnosisDescription
    (0x00380050, "X", "PC"),  # SpecialNeeds
    (0x00380060, "X", ""),  # ServiceEpisodeID
    (0x00380061, "X", ""),  # IssuerOfServiceEpisodeID
    (0x00380062, "X", "SC"),  # ServiceEpisodeDescription
    (0x00380064, "X", ""),  # IssuerOfServiceEpisodeIDSequence
    (0x00380300, "X", ""),  # CurrentPatientLocation
    (0x00380400, "X", ""),  # PatientInstitutionResidence
    (0x00380500, "X", "PC SC"),  # PatientState
    (0x00384000, "X", "SC"),  # VisitComments
    (0x003A0310, "U", "UK"),  # MultiplexGroupUID
    (0x003A0314, "D", "FK MC"),  # ImpedanceMeasurementDateTime
    (0x003A0329, "X", "SC"),  # WaveformFilterDescription
    (0x003A032B, "X", "SC"),  # FilterLookupTableDescription
    (0x00400001, "X", "VC"),  # ScheduledStationAETitle
    (0x00400002, "X", "FK MC"),  # ScheduledProcedureStepStartDate
    (0x00400003, "X", "FK MC"),  # ScheduledProcedureStepStartTime
    (0x00400004, "X", "FK MC"),  # ScheduledProcedureStepEndDate
    (0x00400005, "X", "FK MC"),  # ScheduledProcedureStepEndTime
    (0x00400006, "X", ""),  # ScheduledPerformingPhysicianName
    (0x00400007, "X", "SC"),  # ScheduledProcedureStepDescription
    (0x00400009, "X", ""),  # ScheduledProcedureStepID
    (0x0040000B, "X", ""),  # ScheduledPerformingPhysicianIdentificationSequence
    (0x00400010, "X", "VK"),  # ScheduledStationName
    (0x00400011, "X", "VK"),  # ScheduledProcedureStepLocation
    (0x00400012, "X", "PC"),  # PreMedication
    (0x00400241, "X", "VC"),  # PerformedStationAETitle
    (0x00400242, "X", "VK"),  # PerformedStationName
    (0x00400243, "X", ""),  # PerformedLocation
    (0x00400244, "X", "FK MC"),  # PerformedProcedureStepStartDate
    (0x00400245, "X", "FK MC"),  # PerformedProcedureStepStartTime
    (0x00400250, "X", "FK MC"),  # PerformedProcedureStepEndDate
    (0x00400251, "X", "FK MC"),  # PerformedProcedureStepEndTime
    (0x00400253, "X", ""),  # PerformedProcedureStepID
    (0x00400254, "X", "SC"),  # PerformedProcedureStepDescription
    (0x00400275, "X", "SC"),  # RequestAttributesSequence
    (0x00400280, "X", "SC"),  # CommentsOnThePerformedProcedureStep
    (0x00400310, "X", "SC"),  # CommentsOnRadiationDose
    (0x0040050A, "X", ""),  # SpecimenAccessionNumber
    (0x00400512, "D", ""),  # ContainerIdentifier
    (0x00400513, "Z", ""),  # IssuerOfTheContainerIdentifierSequence
    (0x0040051A, "X", "SC"),  # ContainerDescription
    (0x00400551, "D", ""),  # SpecimenIdentifier
    (0x00400554, "U", "UK"),  # SpecimenUID
    (0x00400555, "X/Z", "TC"),  # AcquisitionContextSequence
    (0x00400562, "Z", ""),  # IssuerOfTheSpecimenIdentifierSequence
    (0x00400600, "X", "SC"),  # SpecimenShortDescription
    (0x00400602, "X", "SC"),  # SpecimenDetailedDescription
    (0x00400610, "Z", "TC"),  # SpecimenPreparationSequence
    (0x004006FA, "X", ""),  # SlideIdentifier
    (0x00401001, "X", ""),  # RequestedProcedureID
    (0x00401002, "X", "SC"),  # ReasonForTheRequestedProcedure
    (0x00401004, "X", ""),  # PatientTransportArrangements
    (0x00401005, "X", ""),  # RequestedProcedureLocation
    (0x0040100A, "X", "SC"),  # ReasonForRequestedProcedureCodeSequence
    (0x00401010, "X", ""),  # NamesOfIntendedRecipientsOfResults
    (0x00401011, "X", ""),  # IntendedRecipientsOfResultsIdentificationSequence
    (0x00401101, "D", ""),  # PersonIdentificationCodeSequence
    (0x00401102, "X", ""),  # PersonAddress
    (0x00401103, "X", ""),  # PersonTelephoneNumbers
    (0x00401104, "X", ""),  # PersonTelecomInformation
    (0x00401400, "X", "SC"),  # RequestedProcedureComments
    (0x00402001, "X", "SC"),  # ReasonForTheImagingServiceRequest
    (0x00402004, "X", "FK MC"),  # IssueDateOfImagingServiceRequest
    (0x00402005, "X", "FK MC"),  # IssueTimeOfImagingServiceRequest
    (0x00402008, "X", ""),  # OrderEnteredBy
    (0x00402009, "X", ""),  # OrderEntererLocation
    (0x00402010, "X", ""),  # OrderCallbackPhoneNumber
    (0x00402011, "X", ""),  # OrderCallbackTelecomInformation
    (0x00402016, "Z", ""),  # PlacerOrderNumberImagingServiceRequest
    (0x00402017, "Z", ""),  # FillerOrderNumberImagingServiceRequest
    (0x00402400, "X", "SC"),  # ImagingServiceRequestComments
    (0x00403001, "X", ""),  # ConfidentialityConstraintOnPatientDataDescription
    (0x00404005, "X", "FK MC"),  # ScheduledProcedureStepStartDateTime
    (0x00404008, "X", "FK MC"),  # ScheduledProcedureStepExpirationDateTime
    (0x00404010, "X", "FK MC"),  # ScheduledProcedureStepModificationDateTime
    (0x00404011, "X", "FK MC"),  # ExpectedCompletionDateTime
    (0x00404023, "U", "UK"),  # ReferencedGeneralPurposeScheduledProcedureStepTransactionUID
    (0x00404025, "X", "VK"),  # ScheduledStationNameCodeSequence
    (0x00404027, "X", "VK"),  # ScheduledStationGeographicLocationCodeSequence
    (0x00404028, "X", "VK"),  # PerformedStationNameCodeSequence
    (0x00404030, "X", "VK"),  # PerformedStationGeographicLocationCodeSequence
    (0x00404034, "X", ""),  # ScheduledHumanPerformersSequence
    (0x00404035, "X", ""),  # ActualHumanPerformersSequence
    (0x00404036, "X", ""),  # HumanPerformerOrganization
    (0x00404037, "X", ""),  # HumanPerformerName
    (0x00404050, "X", "FK MC"),  # PerformedProcedureStepStartDateTime
    (0x00404051, "X", "FK MC"),  # PerformedProcedureStepEndDateTime
    (0x00404052, "X", "FK MC"),  # ProcedureStepCancellationDateTime
    (0x0040A023, "X", "FK MC"),  # FindingsGroupRecordingDateTrial
    (0x0040A024, "X", "FK MC"),  # FindingsGroupRecordingTimeTrial
    (0x0040A027, "D", ""),  # VerifyingOrganization
    (0x0040A030, "D", "FK MC"),  # VerificationDateTime
    (0x0040A032, "X/D", "FK MC"),  # ObservationDateTime
    (0x0040A033, "X", "FK MC"),  # ObservationStartDateTime
    (0x0040A073, "D", ""),  # VerifyingObserverSequence
    (0x0040A075, "D", ""),  # VerifyingObserverName
    (0x0040A078, "X", ""),  # AuthorObserverSequence
    (0x0040A07A, "X", ""),  # ParticipantSequence
    (0x0040A07C, "X", ""),  # CustodialOrganizationSequence
    (0x0040A082, "Z", "FK MC"),  # ParticipationDateTime
    (0x0040A088, "Z", ""),  # VerifyingObserverIdentificationCodeSequence
    (0x0040A110, "X", "FK MC"),  # DateOfDocumentOrVerbalTransactionTrial
    (0x0040A112, "X", "FK MC"),  # TimeOfDocumentCreationOrVerbalTransactionTrial
    (0x0040A120, "D", "FK MC"),  # DateTime
    (0x0040A121, "D", "FK MC"),  # Date
    (0x0040A122, "D", "FK MC"),  # Time
    (0x0040A123, "D", ""),  # PersonName
    (0x0040A124, "U", ""),  # UID
    (0x0040A13A, "D", "FK MC"),  # ReferencedDateTime
    (0x0040A171, "U", "UK"),  # ObservationUID
    (0x0040A172, "U", "UK"),  # ReferencedObservationUIDTrial
    (0x0040A192, "X", "FK MC"),  # ObservationDateTrial
    (0x0040A193, "X", "FK MC"),  # ObservationTimeTrial
    (0x0040A307, "X", ""),  # CurrentObserverTrial
    (0x0040A352, "X", ""),  # VerbalSourceTrial
    (0x0040A353, "X", ""),  # AddressTrial
    (0x0040A354, "X", ""),  # TelephoneNumberTrial
    (0x0040A358, "X", ""),  # VerbalSourceIdentifierCodeSequenceTrial
    (0x0040A402, "U", "UK"),  # ObservationSubjectUIDTrial
    (0x0040A730, "D", "TC"),  # ContentSequence
    (0x0040DB06, "X", "FK MC"),  # TemplateVersion
    (0x0040DB07, "X", "FK MC"),  # TemplateLocalVersion
    (0x0040DB0C, "U", "UK"),  # TemplateExtensionOrganizationUID
    (0x0040DB0D, "U", "UK"),  # TemplateExtensionCreatorUID
    (0x0040E004, "X", "FK MC"),  # HL7DocumentEffectiveTime
    (0x00420011, "D", ""),  # EncapsulatedDocument
    (0x00440004, "X", "FK MC"),  # ApprovalStatusDateTime
    (0x0044000B, "X", "FK MC"),  # ProductExpirationDateTime
    (0x00440010, "X", "FK MC"),  # SubstanceAdministrationDateTime
    (0x00440104, "D", "FK MC"),  # AssertionDateTime
    (0x00440105, "X", "FK MC"),  # AssertionExpirationDateTime
    (0x0050001B, "X", ""),  # ContainerComponentID
    (0x00500020, "X", "VK"),  # DeviceDescription
    (0x00500021, "X", "SC"),  # LongDeviceDescription
    (0x00620021, "U", "UK"),  # TrackingUID
    (0x00640003, "U", "UK"),  # SourceFrameOfReferenceUID
    (0x00686226, "D", "FK MC"),  # EffectiveDateTime
    (0x00686270, "D", "FK MC"),  # InformationIssueDateTime
    (0x006A0003, "D", "UK"),  # AnnotationGroupUID
    (0x006A0005, "D", "SC"),  # AnnotationGroupLabel
    (0x006A0006, "X", "SC"),  # AnnotationGroupDescription
    (0x00700001, "D", "GC"),  # GraphicAnnotationSequence
    (0x00700082, "X", "FK MC"),  # PresentationCreationDate
    (0x00700083, "X", "FK MC"),  # PresentationCreationTime
    (0x00700084, "Z/D", ""),  # ContentCreatorName
    (0x00700086, "X", ""),  # ContentCreatorIdentificationCodeSequence
    (0x0070031A, "U", "UK"),  # FiducialUID
    (0x00701101, "U", "UK"),  # PresentationDisplayCollectionUID
    (0x00701102, "U", "UK"),  # PresentationSequenceCollectionUID
    (0x0072000A, "D", "FK MC"),  # HangingProtocolCreationDateTime
    (0x0072005E, "D", "VC"),  # SelectorAEValue
    (0x0072005F, "D", "PK"),  # SelectorASValue
    (0x00720061, "D", "FK MC"),  # SelectorDAValue
    (0x00720063, "D", "FK MC"),  # SelectorDTValue
    (0x00720065, "D", ""),  # SelectorOBValue
    (0x00720066, "D", "SC"),  # SelectorLOValue
    (0x00720068, "D", "SC"),  # SelectorLTValue
    (0x0072006A, "D", ""),  # SelectorPNValue
    (0x0072006B, "D", "FK MC"),  # SelectorTMValue
    (0x0072006C, "D", "SC"),  # SelectorSHValue
    (0x0072006D, "D", ""),  # SelectorUNValue
    (0x0072006E, "D", "SC"),  # SelectorSTValue
    (0x00720070, "D", "SC"),  # SelectorUTValue
    (0x00720071, "D", ""),  # SelectorURValue
    (0x00741234, "X", "VC"),  # ReceivingAE
    (0x00741236, "X", "VC"),  # RequestingAE
    (0x00880140, "U", "UK"),  # StorageMediaFileSetUID
    (0x00880200, "X", ""),  # IconImageSequence
    (0x00880904, "X", ""),  # TopicTitle
    (0x00880906, "X", ""),  # TopicSubject
    (0x00880910, "X", ""),  # TopicAuthor
    (0x00880912, "X", ""),  # TopicKeywords
    (0x01000420, "X", "FK MC"),  # SOPAuthorizationDateTime
    (0x04000100, "U", ""),  # DigitalSignatureUID
    (0x04000105, "D", "FK MC"),  # DigitalSignatureDateTime
    (0x04000115, "D", ""),  # CertificateOfSigner
    (0x04000310, "X", "FK MC"),  # CertifiedTimestamp
    (0x04000402, "X", ""),  # ReferencedDigitalSignatureSequence
    (0x04000403, "X", ""),  # ReferencedSOPInstanceMACSequence
    (0x04000404, "X", ""),  # MAC
    (0x04000550, "X", ""),  # ModifiedAttributesSequence
    (0x04000551, "X", ""),  # NonconformingModifiedAttributesSequence
    (0x04000552, "X", ""),  # NonconformingDataElementValue
    (0x04000561, "X", ""),  # OriginalAttributesSequence
    (0x04000562, "D", "FK MC"),  # AttributeModificationDateTime
    (0x04000563, "D", "VK"),  # ModifyingSystem
    (0x04000564, "Z", "IK"),  # SourceOfPreviousValues
    (0x04000565, "D", "SC"),  # ReasonForTheAttributeModification
    (0x04000600, "X", ""),  # InstanceOriginStatus
    (0x20300020, "X", ""),  # TextString
    (0x21000040, "X", "FK MC"),  # CreationDate
    (0x21000050, "X", "FK MC"),  # CreationTime
    (0x21000070, "X", "VC"),  # Originator
    (0x21000140, "D", "VC"),  # DestinationAE
    (0x22000002, "X/Z", "SC"),  # LabelText
    (0x22000005, "X/Z", ""),  # BarcodeValue
    (0x30020121, "X", "SC"),  # PositionAcquisitionTemplateName
    (0x30020123, "X", "SC"),  # PositionAcquisitionTemplateDescription
    (0x30060002, "D", "SC"),  # StructureSetLabel
    (0x30060004, "X", "SC"),  # StructureSetName
    (0x30060006, "X", "SC"),  # StructureSetDescription
    (0x30060008, "Z", "FK MC"),  # StructureSetDate
    (0x30060009, "Z", "FK MC"),  # StructureSetTime
    (0x30060024, "U", "UK"),  # ReferencedFrameOfReferenceUID
    (0x30060026, "Z", "SC"),  # ROIName
    (0x30060028, "X", "SC"),  # ROIDescription
    (0x3006002D, "X", "FK MC"),  # ROIDateTime
    (0x3006002E, "X", "FK MC"),  # ROIObservationDateTime
    (0x30060038, "X", "SC"),  # ROIGenerationDescription
    (0x3006004D, "X", ""),  # ROICreatorSequence
    (0x3006004E, "X", ""),  # ROIInterpreterSequence
    (0x30060085, "X", "SC"),  # ROIObservationLabel
    (0x30060088, "X", "SC"),  # ROIObservationDescription
    (0x300600A6, "Z", ""),  # ROIInterpreter
    (0x300600C2, "U", "UK"),  # RelatedFrameOfReferenceUID
    (0x30080024, "D", "FK MC"),  # TreatmentControlPointDate
    (0x30080025, "D", "FK MC"),  # TreatmentControlPointTime
    (0x30080054, "X/D", "FK MC"),  # FirstTreatmentDate
    (0x30080056, "X/D", "FK MC"),  # MostRecentTreatmentDate
    (0x30080105, "X/Z", "VK"),  # SourceSerialNumber
    (0x30080162, "D", "FK MC"),  # SafePositionExitDate
    (0x30080164, "D", "FK MC"),  # SafePositionExitTime
    (0x30080166, "D", "FK MC"),  # SafePositionReturnDate
    (0x30080168, "D", "FK MC"),  # SafePositionReturnTime
    (0x30080250, "X/D", "FK MC"),  # TreatmentDate
    (0x30080251, "X/D", "FK MC"),  # TreatmentTime
    (0x300A0002, "D", "SC"),  # RTPlanLabel
    (0x300A0003, "X", "SC"),  # RTPlanName
    (0x300A0004, "X", "SC"),  # RTPlanDescription
    (0x300A0006, "X/D", "FK MC"),  # RTPlanDate
    (0x300A0007, "X/D", "FK MC"),  # RTPlanTime
    (0x300A000B, "X", "SC"),  # TreatmentSites
    (0x300A000E, "X", "SC"),  # PrescriptionDescription
    (0x300A0013, "U", "UK"),  # DoseReferenceUID
    (0x300A0016, "X", "SC"),  # DoseReferenceDescription
    (0x300A0072, "X", "SC"),  # FractionGroupDescription
    (0x300A0083, "U", "UK"),  # ReferencedDoseReferenceUID
    (0x300A00B2, "X/Z", "VK"),  # TreatmentMachineName
    (0x300A00C3, "X", "SC"),  # BeamDescription
    (0x300A00DD, "X", "SC"),  # BolusDescription
    (0x300A0196, "X", "SC"),  # FixationDeviceDescription
    (0x300A01A6, "X", "SC"),  # ShieldingDeviceDescription
    (0x300A01B2, "X", "SC"),  # SetupTechniqueDescription
    (0x300A0216, "X", "VK"),  # SourceManufacturer
    (0x300A022C, "D", "FK MC"),  # SourceStrengthReferenceDate
    (0x300A022E, "D", "FK MC"),  # SourceStrengthReferenceTime
    (0x300A02EB, "X", "SC"),  # CompensatorDescription
    (0x300A0608, "D", "SC"),  # TreatmentPositionGroupLabel
    (0x300A0609, "U", "UK"),  # TreatmentPositionGroupUID
    (0x300A0611, "Z", ""),  # RTAccessoryHolderSlotID
    (0x300A0615, "Z", ""),  # RTAccessoryDeviceSlotID
    (0x300A0619, "D", "SC"),  # RadiationDoseIdentificationLabel
    (0x300A0623, "D", "SC"),  # RadiationDoseInVivoMeasurementLabel
    (0x300A062A, "D", "SC"),  # RTToleranceSetLabel
    (0x300A0650, "U", "UK"),  # PatientSetupUID
    (0x300A0676, "X", "SC"),  # EquipmentFrameOfReferenceDescription
    (0x300A067C, "D", "SC"),  # RadiationGenerationModeLabel
    (0x300A067D, "Z", "SC"),  # RadiationGenerationModeDescription
    (0x300A0700, "U", "UK"),  # TreatmentSessionUID
    (0x300A0734, "D", "SC"),  # TreatmentToleranceViolationDescription
    (0x300A0736, "D", "FK MC"),  # TreatmentToleranceViolationDateTime
    (0x300A073A, "D", "FK MC"),  # RecordedRTControlPointDateTime
    (0x300A0741, "D", "FK MC"),  # InterlockDateTime
    (0x300A0742, "D", "SC"),  # InterlockDescription
    (0x300A0760, "D", "FK MC"),  # OverrideDateTime
    (0x300A0783, "D", "SC"),  # InterlockOriginDescription
    (0x300A0785, "U", "UK"),  # ReferencedTreatmentPositionGroupUID
    (0x300A078E, "X", "SC"),  # PatientTreatmentPreparationProcedureParameterDescription
    (0x300A0792, "X", "SC"),  # PatientTreatmentPreparationMethodDescription
    (0x300A0794, "X", "SC"),  # PatientSetupPhotoDescription
    (0x300A079A, "X", "SC"),  # DisplacementReferenceLabel
    (0x300C0113, "X", "SC"),  # ReasonForOmissionDescription
    (0x300C0127, "D", "VK FK MC"),  # BeamHoldTransitionDateTime
    (0x300E0004, "Z", "FK MC"),  # ReviewDate
    (0x300E0005, "Z", "FK MC"),  # ReviewTime
    (0x300E0008, "X/Z", ""),  # ReviewerName
    (0x30100006, "U", "UK"),  # ConceptualVolumeUID
    (0x3010000B, "U", "UK"),  # ReferencedConceptualVolumeUID
    (0x3010000F, "Z", "SC"),  # ConceptualVolumeCombinationDescription
    (0x30100013, "U", "UK"),  # ConstituentConceptualVolumeUID
    (0x30100015, "U", "UK"),  # SourceConceptualVolumeUID
    (0x30100017, "Z", "SC"),  # ConceptualVolumeDescription
    (0x3010001B, "Z", ""),  # DeviceAlternateIdentifier
    (0x3010002D, "D", "VK"),  # DeviceLabel
    (0x30100031, "U", "UK"),  # ReferencedFiducialsUID
    (0x30100033, "D", "SC"),  # UserContentLabel
    (0x30100034, "D", "SC"),  # UserContentLongLabel
    (0x30100035, "D", "SC"),  # EntityLabel
    (0x30100036, "X", "SC"),  # EntityName
    (0x30100037, "X", "SC"),  # EntityDescription
    (0x30100038, "D", "SC"),  # EntityLongLabel
    (0x3010003B, "U", "UK"),  # RTTreatmentPhaseUID
    (0x30100043, "Z", "VK"),  # ManufacturerDeviceIdentifier
    (0x3010004C, "X/D", "FK MC"),  # IntendedPhaseStartDate
    (0x3010004D, "X/D", "FK MC"),  # IntendedPhaseEndDate
    (0x30100054, "D", "SC"),  # RTPrescriptionLabel
    (0x30100056, "X/D", "SC"),  # RTTreatmentApproachLabel
    (0x3010005A, "Z", "SC"),  # RTPhysicianIntentNarrative
    (0x3010005C, "Z", "SC"),  # ReasonForSuperseding
    (0x30100061, "X", "SC"),  # PriorTreatmentDoseDescription
    (0x3010006E, "U", "UK"),  # DosimetricObjectiveUID
    (0x3010006F, "U", "UK"),  # ReferencedDosimetricObjectiveUID
    (0x30100077, "X/D", "SC"),  # TreatmentSite
    (0x3010007A, "Z", "SC"),  # TreatmentTechniqueNotes
    (0x3010007B, "Z", "SC"),  # PrescriptionNotes
    (0x3010007F, "Z", "SC"),  # FractionationNotes
    (0x30100081, "Z", "SC"),  # PrescriptionNotesSequence
    (0x30100085, "X", "FK MC"),  # IntendedFractionStartTime
    (0x40000010, "X", ""),  # Arbitrary
    (0x40004000, "X", ""),  # TextComments
    (0x40080040, "X", ""),  # ResultsID
    (0x40080042, "X", ""),  # ResultsIDIssuer
    (0x40080100, "X", "FK MC"),  # InterpretationRecordedDate
    (0x40080101, "X", "FK MC"),  # InterpretationRecordedTime
    (0x40080102, "X", ""),  # InterpretationRecorder
    (0x40080108, "X", "FK MC"),  # InterpretationTranscriptionDate
    (0x40080109, "X", "FK MC"),  # InterpretationTranscriptionTime
    (0x4008010A, "X", ""),  # InterpretationTranscriber
    (0x4008010B, "X", "SC"),  # InterpretationText
    (0x4008010C, "X", ""),  # InterpretationAuthor
    (0x40080111, "X", ""),  # InterpretationApproverSequence
    (0x40080112, "X", "FK MC"),  # InterpretationApprovalDate
    (0x40080113, "X", "FK MC"),  # InterpretationApprovalTime
    (0x40080114, "X", ""),  # PhysicianApprovingInterpretation
    (0x40080115, "X", "SC"),  # InterpretationDiagnosisDescription
    (0x40080118, "X", ""),  # ResultsDistributionListSequence
    (0x40080119, "X", ""),  # DistributionName
    (0x4008011A, "X", ""),  # DistributionAddress
    (0x40080200, "X", ""),  # InterpretationID
    (0x40080202, "X", ""),  # InterpretationIDIssuer
    (0x40080300, "X", "SC"),  # Impressions
    (0x40084000, "X", "SC"),  # ResultsComments
    (0xFFFAFFFA, "X", ""),  # DigitalSignaturesSequence
    (0xFFFCFFFC, "X", ""),  # DataSetTrailingPadding
)

PROFILE: Final[dict[int, tuple[str, dict[str, str]]]] = {
    tag: (basic, {o[0]: o[1:] for o in opts.split()}) for tag, basic, opts in TABLE_E1_1
}
"""Tag -> (Basic Profile action, {option letter: action})."""
